// Package verify checks the research's success criteria on a live
// cluster: the control plane answers, kubectl works, a Deployment's pod
// runs, `kubectl logs` and `kubectl exec` work, a Service routes pod to
// pod, the cluster DNS resolves the Service by name, a PersistentVolumeClaim
// of the default StorageClass keeps data across pods, and a Helm chart
// validates (--dry-run=server) and installs. Each check passes, fails or
// is skipped, with the evidence.
//
// kubectl and helm are run as the user runs them, with the cluster's
// kubeconfig: the point is that the user's tools work.
package verify

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

//go:embed chart
var chartFS embed.FS

// Outcome of a check.
type Outcome string

const (
	Pass    Outcome = "pass"
	Fail    Outcome = "fail"
	Skipped Outcome = "skipped"
)

// Check is one verified criterion.
type Check struct {
	Name       string  `json:"name"`
	Criterion  string  `json:"criterion"`
	Outcome    Outcome `json:"outcome"`
	Evidence   string  `json:"evidence"`
	DurationMS float64 `json:"durationMs"`
}

// Report is the outcome of a verification.
type Report struct {
	Kubeconfig string  `json:"kubeconfig"`
	Checks     []Check `json:"checks"`
	Passed     bool    `json:"passed"`
}

// Options of a verification.
type Options struct {
	Kubeconfig string
	// Kubectl and Helm are the binaries; empty means look them up
	// (helm also in kprobe's bin/engine).
	Kubectl, Helm string
	// Namespace is created for the checks and deleted afterwards.
	Namespace string
	// Timeout bounds the whole verification, the cleanup of its
	// namespace included (cleanupLimit of it is kept for that).
	Timeout time.Duration
	// Progress is called after each check.
	Progress func(Check)
	// ControlPlaneOnly verifies a T3 launch: no node, so the checks that
	// need a running pod are skipped with that reason.
	ControlPlaneOnly bool
	// ProcessPods verifies a TP launch (pods run as processes of the
	// sandbox): the pod checks run, plus crash-restart and readiness
	// (lifecycle.go); the replicas check, where it fails, is reported
	// skipped with the reason (a sandbox whose node agent cannot rewrite
	// binds has one port space).
	ProcessPods bool
	// SimulatedNodes are the launch's kwok nodes: the simulated check
	// (simulated.go) runs only where there are some.
	SimulatedNodes []string
	// NoNetworkPolicy is why the networkpolicy check (netpol.go) is
	// skipped: the launch's plan enforces no NetworkPolicy, or there is
	// no plan to say so. "" runs it.
	NoNetworkPolicy string
}

// noWorker is why a control-plane-only cluster skips the pod checks.
const noWorker = "control plane only (T3): no node runs pods here"

// samePortReplicas is why a process-pod cluster may fail the replicas
// check: reported as skipped with it.
const samePortReplicas = "process pods share the sandbox's ports where the node agent cannot rewrite their binds (ptrace refused: the agent's log says \"binds are not rewritten\"): a second replica listening on the same containerPort gets \"address already in use\" (event PortCollision)"

// Namespace the checks run in by default.
const Namespace = "kprobe-verify"

// checkLimit bounds one check (the networkpolicy check's three waits of
// up to 45 s each are the longest), so a cluster that stops answering
// fails each check in turn, with its evidence, instead of one check
// holding the whole verification.
const checkLimit = 150 * time.Second

// cleanupLimit is the part of Options.Timeout kept for deleting the
// checks' Helm release and namespace.
const cleanupLimit = 60 * time.Second

type runner struct {
	o   Options
	ctx context.Context
}

// kubectl runs kubectl with the cluster's kubeconfig.
func (r *runner) kubectl(stdin string, args ...string) (string, error) {
	return r.run(r.o.Kubectl, stdin, append([]string{"--kubeconfig", r.o.Kubeconfig}, args...)...)
}

func (r *runner) helm(args ...string) (string, error) {
	return r.run(r.o.Helm, "", append([]string{"--kubeconfig", r.o.Kubeconfig}, args...)...)
}

func (r *runner) run(bin, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// findTool looks a tool up in PATH, then next to kprobe (bin/engine).
func findTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if exe, err := os.Executable(); err == nil {
		for _, d := range []string{filepath.Join(filepath.Dir(exe), "engine"), filepath.Dir(exe)} {
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				return filepath.Join(d, name)
			}
		}
	}
	return ""
}

// Run verifies the cluster behind the kubeconfig.
func Run(ctx context.Context, o Options) *Report {
	if o.Namespace == "" {
		o.Namespace = Namespace
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.Kubectl == "" {
		o.Kubectl = findTool("kubectl")
	}
	if o.Helm == "" {
		o.Helm = findTool("helm")
	}
	parent := ctx
	checksTime := o.Timeout - cleanupLimit
	if checksTime < o.Timeout/2 {
		checksTime = o.Timeout / 2
	}
	ctx, cancel := context.WithTimeout(parent, checksTime)
	defer cancel()
	r := &runner{o: o, ctx: ctx}
	rep := &Report{Kubeconfig: o.Kubeconfig, Passed: true}
	add := func(c Check) {
		rep.Checks = append(rep.Checks, c)
		if c.Outcome == Fail {
			rep.Passed = false
		}
		if o.Progress != nil {
			o.Progress(c)
		}
	}
	// unlessPass names checks whose failure is reported as skipped with
	// this reason (and the failure as evidence): what the rung cannot do yet.
	unlessPass := map[string]string{}
	if o.ProcessPods {
		unlessPass["replicas"] = samePortReplicas
	}
	check := func(name, criterion string, needs string, f func() (string, error)) bool {
		if needs != "" {
			add(Check{Name: name, Criterion: criterion, Outcome: Skipped, Evidence: needs})
			return false
		}
		if ctx.Err() != nil {
			add(Check{Name: name, Criterion: criterion, Outcome: Fail, Evidence: fmt.Sprintf("not run: the verification's --timeout (%s, %s of it kept for cleanup) ran out", o.Timeout, o.Timeout-checksTime)})
			return false
		}
		start := time.Now()
		cctx, ccancel := context.WithTimeout(ctx, checkLimit)
		r.ctx = cctx
		ev, err := f()
		r.ctx = ctx
		ccancel()
		c := Check{Name: name, Criterion: criterion, Outcome: Pass, Evidence: ev, DurationMS: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			c.Outcome, c.Evidence = Fail, err.Error()
			if ctx.Err() != nil {
				c.Evidence += fmt.Sprintf(" (stopped: the verification's --timeout %s ran out)", o.Timeout)
			} else if cctx.Err() != nil {
				c.Evidence += fmt.Sprintf(" (stopped at the check's limit of %s)", checkLimit)
			}
			if why, ok := unlessPass[name]; ok {
				c.Outcome, c.Evidence = Skipped, why+" (tried: "+firstLines(err.Error(), 1)+")"
			}
		}
		add(c)
		return err == nil
	}
	noKubectl := ""
	if o.Kubectl == "" {
		noKubectl = "kubectl is not installed (apt-get install kubectl, or put it on PATH)"
	}
	up := check("control-plane", "the API server answers /readyz and a node is Ready", noKubectl, func() (string, error) {
		if _, err := r.kubectl("", "get", "--raw", "/readyz"); err != nil {
			return "", err
		}
		if o.ControlPlaneOnly {
			out, err := r.kubectl("", "get", "--raw", "/version")
			var v struct{ GitVersion string }
			if err == nil {
				err = json.Unmarshal([]byte(out), &v)
			}
			return "/readyz ok; server " + v.GitVersion + "; no node (T3)", err
		}
		out, err := r.kubectl("", "wait", "--for=condition=Ready", "node", "--all", "--timeout=60s")
		return "/readyz ok; " + strings.TrimSpace(out), err
	})
	if !up {
		for _, n := range []string{"kubectl", "deployment", "logs", "exec", "service", "networkpolicy", "dns", "storage", "helm-dry-run", "helm-install"} {
			add(Check{Name: n, Outcome: Skipped, Evidence: "the control plane is not up"})
		}
		return rep
	}
	check("kubectl", "kubectl lists nodes and applies a manifest", "", func() (string, error) {
		what := []string{"nodes", "-o", "wide"}
		if o.ControlPlaneOnly {
			what = []string{"namespaces"}
		}
		out, err := r.kubectl("", append([]string{"get"}, what...)...)
		if err != nil {
			return "", err
		}
		_, err = r.kubectl(fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", o.Namespace), "apply", "-f", "-")
		return "kubectl get " + what[0] + ": " + strings.Join(strings.Fields(lastLine(out)), " "), err
	})
	defer func() {
		// One budget for both: with Timeout's rest, the whole run stays
		// within Timeout.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(parent), o.Timeout-checksTime)
		defer dcancel()
		cleanup := &runner{o: o, ctx: dctx}
		if o.Helm != "" {
			_, _ = cleanup.helm("uninstall", "kprobe-hello", "-n", o.Namespace, "--wait")
		}
		_, _ = cleanup.kubectl("", "delete", "namespace", o.Namespace, "--wait=true", "--timeout=60s")
	}()
	worker := ""
	if o.ControlPlaneOnly {
		worker = noWorker
	}
	deployed := check("deployment", "a Deployment's pod runs", worker, func() (string, error) {
		if _, err := r.kubectl(webManifest(o.Namespace), "apply", "-f", "-"); err != nil {
			return "", err
		}
		out, err := r.kubectl("", "-n", o.Namespace, "rollout", "status", "deployment/web", "--timeout=90s")
		return lastLine(out), err
	})
	need := worker
	if !deployed && need == "" {
		need = "the Deployment did not run"
	}
	check("logs", "kubectl logs shows the container's output", need, func() (string, error) {
		out, err := r.kubectl("", "-n", o.Namespace, "logs", "deployment/web")
		if err == nil && !strings.Contains(out, "web-started") {
			err = fmt.Errorf("kubectl logs printed %q, not the container's first line", firstLines(out, 2))
		}
		return firstLines(out, 1), err
	})
	check("exec", "kubectl exec runs a command in the pod, with stdin", need, func() (string, error) {
		out, err := r.kubectl("echo stdin-ok $((6*7))\n", "-n", o.Namespace, "exec", "-i", "deployment/web", "--", "sh")
		if err == nil && !strings.Contains(out, "stdin-ok 42") {
			err = fmt.Errorf("exec printed %q", out)
		}
		return strings.TrimSpace(out), err
	})
	check("service", "a ClusterIP Service routes from one pod to another (kube-proxy, CNI)", need, func() (string, error) {
		if _, err := r.kubectl("", "-n", o.Namespace, "wait", "--for=condition=Ready", "pod/client", "--timeout=90s"); err != nil {
			return "", err
		}
		ip, err := r.kubectl("", "-n", o.Namespace, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
		if err != nil {
			return "", err
		}
		var out string
		deadline := time.Now().Add(30 * time.Second)
		for {
			// nc, not wget: Debian's static busybox wget crashes (SIGSEGV)
			// in glibc's static resolver even for a literal address.
			out, err = r.kubectl("", "-n", o.Namespace, "exec", "client", "--", "sh", "-c",
				"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 "+ip+" 80")
			if err == nil && strings.Contains(out, "verify-ok") || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err == nil && !strings.Contains(out, "verify-ok") {
			err = fmt.Errorf("the Service at %s answered %q", ip, out)
		}
		return fmt.Sprintf("pod client -> service web (%s:80) -> pod: %s %s", ip, firstLines(out, 1), lastLine(out)), err
	})
	needPolicy := need
	if needPolicy == "" {
		needPolicy = o.NoNetworkPolicy
	}
	check("networkpolicy", "a deny-all ingress NetworkPolicy blocks the pod client from the Service, and deleting it lets it through again", needPolicy, r.checkNetworkPolicy)
	// From the sandbox's shell, as a user reaches the cluster (ports.go):
	// the kubelet's port-forward and kube-proxy at T0-T2, the node agent
	// and its Service proxy at TP.
	check("port-forward", "kubectl port-forward svc/NAME reaches the Service's pod from the sandbox's shell", need, r.checkPortForward)
	check("nodeport", "a NodePort Service answers on its node's address from the sandbox's shell (kube-proxy, or the node agent's proxy)", need, r.checkNodePort)
	// Cluster DNS and storage (addons.go): skipped where the cluster has
	// neither, failed where it has them and they do not work.
	needDNS := need
	if needDNS == "" {
		needDNS = r.noDNS()
	}
	check("dns", "a pod resolves a Service by name through the cluster DNS and reaches it", needDNS, r.checkDNS)
	check("replicas", "two replicas of a Deployment with the same containerPort both serve through their Service", need, r.checkReplicas)
	needStorage := worker
	if needStorage == "" {
		needStorage = r.noStorage()
	}
	check("storage", "a PVC of the default StorageClass keeps a pod's data when the pod is recreated", needStorage, r.checkStorage)
	if o.ProcessPods {
		// The kubelet's lifecycle semantics, as the node agent keeps them
		// (lifecycle.go).
		check("crash-restart", "a crashing container is restarted with back-off (CrashLoopBackOff) and recovers", "", r.checkCrashRestart)
		check("readiness", "a readiness probe keeps a running pod not Ready until it passes", "", r.checkReadiness)
	}
	// Several real nodes (nodes.go): pods on each, pod to pod across
	// nodes, a Service spanning them.
	if nodes := r.realNodes(); len(nodes) > 1 {
		check("nodes", "pods run on every node, reach pods on other nodes by their IP, and a Service spans the nodes", worker,
			func() (string, error) { return r.checkNodes(nodes) })
	}
	noHelm := ""
	if o.Helm == "" {
		noHelm = "helm is not installed (`make engine` builds it into bin/engine)"
	}
	var chartDir string
	if noHelm == "" {
		var err error
		chartDir, err = writeChart()
		if err != nil {
			noHelm = "cannot write the test chart: " + err.Error()
		} else {
			defer os.RemoveAll(chartDir)
		}
	}
	check("helm-dry-run", "helm install --dry-run=server validates a chart against the API", noHelm, func() (string, error) {
		out, err := r.helm("install", "kprobe-hello", chartDir, "-n", o.Namespace, "--dry-run=server")
		if err == nil && !strings.Contains(out, "kind: Deployment") {
			err = fmt.Errorf("the dry run rendered no Deployment")
		}
		return "rendered and validated by the server: " + firstLines(grep(out, "STATUS"), 1), err
	})
	if noHelm == "" {
		noHelm = worker
	}
	check("helm-install", "helm install deploys a chart whose pod runs", noHelm, func() (string, error) {
		out, err := r.helm("install", "kprobe-hello", chartDir, "-n", o.Namespace, "--wait", "--timeout", "90s")
		if err != nil {
			return "", err
		}
		logs, err := r.kubectl("", "-n", o.Namespace, "logs", "deployment/kprobe-hello")
		if err == nil && !strings.Contains(logs, "hello-from-helm") {
			err = fmt.Errorf("the chart's pod printed %q", logs)
		}
		return firstLines(grep(out, "STATUS"), 1) + "; pod says " + strings.TrimSpace(logs), err
	})
	if len(o.SimulatedNodes) > 0 {
		needSim := ""
		if chartDir == "" {
			needSim = "no helm or no test chart for the Helm part"
		}
		check("simulated", "Deployments and a Helm release are scheduled onto the simulated (kwok) nodes and reported Running; no container runs",
			needSim, func() (string, error) { return r.checkSimulated(chartDir) })
	}
	return rep
}

// webManifest is the Deployment web (one replica) behind the Service web,
// and the pod client the checks run their requests from.
func webManifest(ns string) string {
	return httpdManifest(ns, "web", 1, "verify-ok") + fmt.Sprintf(`---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: client
    image: docker.io/library/busybox:1.35
    imagePullPolicy: Never
    command: ["sleep", "3600"]
`, ns)
}

// httpdManifest is a Deployment of busybox httpd replicas on containerPort
// 8080, each logging NAME-started and serving body (the shell expands it
// in the pod), behind a Service of the same name on port 80.
func httpdManifest(ns, name string, replicas int, body string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  replicas: %[3]d
  selector: {matchLabels: {app: %[2]s}}
  template:
    metadata: {labels: {app: %[2]s}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: %[2]s
        image: docker.io/library/busybox:1.35
        imagePullPolicy: Never
        command: ["sh", "-c", "echo %[2]s-started; mkdir -p /www; echo %[4]s > /www/index.html; exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  selector: {app: %[2]s}
  ports: [{port: 80, targetPort: 8080}]
`, ns, name, replicas, body)
}

// writeChart copies the embedded test chart to a temp dir.
func writeChart() (string, error) {
	dir, err := os.MkdirTemp("", "kprobe-chart-")
	if err != nil {
		return "", err
	}
	err = fs.WalkDir(chartFS, "chart", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, strings.TrimPrefix(p, "chart"))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := chartFS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " / ")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func grep(s, word string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			return l
		}
	}
	return ""
}
