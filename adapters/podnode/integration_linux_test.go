package podnode

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgentWithRealControlPlane runs the whole flow against a real
// control plane (kprobe launch at T3): the agent registers a Ready node, a
// busybox pod from the preloaded archive runs, its logs and an exec come
// back through the API server, a Deployment of 2 rolls out, a deleted pod
// and the stopped agent leave no process behind. It needs root, the
// engine (bin/engine) and images (bin/images) of the worktree and the
// built binary (bin/kprobe), and runs under the host lock
// (flock /tmp/kprobe-host.lock go test -run TestAgentWithRealControlPlane ./adapters/podnode).
func TestAgentWithRealControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to launch a control plane")
	}
	top, _ := filepath.Abs("../..")
	kprobe, engine, images := filepath.Join(top, "bin/kprobe"), filepath.Join(top, "bin/engine"), filepath.Join(top, "bin/images")
	nodeAgent := filepath.Join(top, "bin/kprobe-node-agent")
	for _, p := range []string{kprobe, nodeAgent, filepath.Join(engine, "kubectl"), filepath.Join(engine, "kube-apiserver"), filepath.Join(images, "busybox.tar")} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s missing (make build; link bin/engine and bin/images)", p)
		}
	}
	dd, err := os.MkdirTemp("/tmp", "podnode-it-")
	if err != nil {
		t.Fatal(err)
	}
	agentDir := dd + "-agent"
	env := append(os.Environ(), "PATH="+engine+":"+os.Getenv("PATH"), "KUBECONFIG="+filepath.Join(dd, "kubeconfig"))
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(name string, args ...string) string {
		t.Helper()
		out, err := run(name, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return out
	}
	kubectl := func(args ...string) string { t.Helper(); return must(filepath.Join(engine, "kubectl"), args...) }
	t.Cleanup(func() {
		out, err := run(kprobe, "stop", "--purge", "--data-dir", dd)
		if err != nil {
			t.Errorf("kprobe stop: %v\n%s", err, out)
		}
		os.RemoveAll(agentDir)
	})
	must(kprobe, "launch", "--engine", "kubernetes", "--rung", "T3", "--no-addons", "--no-tui", "--data-dir", dd,
		"--bin-dir", engine, "--images-dir", images, "--wait", "4m")
	kubectl("create", "clusterrole", "kprobe-process-pods", "--verb=get,list,watch", "--resource=configmaps,secrets,services")
	kubectl("create", "clusterrolebinding", "kprobe-process-pods", "--clusterrole=kprobe-process-pods", "--user=system:node:kprobe-node")

	pki := filepath.Join(dd, "pki")
	agent := exec.Command(nodeAgent, "--kubeconfig", filepath.Join(dd, "kubeconfigs", "kubelet.conf"),
		"--node-name", "kprobe-node", "--data-dir", agentDir, "--node-ip", "127.0.0.1",
		"--tls-cert-file", filepath.Join(pki, "kubelet-serving.crt"), "--tls-private-key-file", filepath.Join(pki, "kubelet-serving.key"),
		"--client-ca-file", filepath.Join(pki, "ca.crt"), "--images-dir", images)
	var agentLog strings.Builder
	agent.Stdout, agent.Stderr = &agentLog, &agentLog
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stopAgent := func() {
		if !stopped {
			stopped = true
			_ = agent.Process.Signal(syscall.SIGTERM)
			_ = agent.Wait()
		}
	}
	t.Cleanup(func() {
		stopAgent()
		if t.Failed() {
			t.Logf("agent log:\n%s", agentLog.String())
		}
	})

	for i := 0; i < 90; i++ { // kubectl wait fails at once on a node not yet registered
		if _, err := run(filepath.Join(engine, "kubectl"), "get", "node", "kprobe-node"); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	kubectl("wait", "--for=condition=Ready", "node/kprobe-node", "--timeout=90s")
	const marker = "podnode-it-marker"
	kubectl("run", "bb", "--image=docker.io/library/busybox:1.35", "--image-pull-policy=Never", "--",
		"sh", "-c", "trap 'exit 0' TERM; i=0; while true; do echo "+marker+" $i; i=$((i+1)); sleep 1; done")
	kubectl("wait", "--for=condition=Ready", "pod/bb", "--timeout=60s")
	time.Sleep(2 * time.Second)
	if out := kubectl("logs", "bb", "--tail=1"); !strings.Contains(out, marker) {
		t.Errorf("kubectl logs: %q", out)
	}
	if out := kubectl("exec", "bb", "--", "sh", "-c", "echo in-$(hostname); tail -1 /etc/hosts"); !strings.Contains(out, "in-") || !strings.Contains(out, "127.0.0.1\tbb") {
		t.Errorf("kubectl exec: %q", out)
	}
	if out, err := run(filepath.Join(engine, "kubectl"), "exec", "bb", "--", "sh", "-c", "exit 3"); err == nil || !strings.Contains(out, "exit code 3") {
		t.Errorf("exit code of exec: %v %q", err, out)
	}
	kubectl("create", "deployment", "web", "--image=docker.io/library/busybox:1.35", "--replicas=2", "--", "sh", "-c", "sleep 3600")
	kubectl("patch", "deployment", "web", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"busybox","imagePullPolicy":"Never"}]}}}}`)
	kubectl("rollout", "status", "deployment/web", "--timeout=120s")

	kubectl("delete", "pod", "bb", "--timeout=60s")
	if procsWith(marker) > 0 {
		t.Errorf("processes of the deleted pod still run")
	}
	stopAgent()
	if n := procsWith("sleep 3600"); n > 0 {
		t.Errorf("%d processes of the Deployment's pods survived the agent", n)
	}
}

// procsWith counts processes whose command line contains s.
func procsWith(s string) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			n++
		}
	}
	return n
}
