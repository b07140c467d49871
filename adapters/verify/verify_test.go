package verify

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChart writes the embedded chart and, when helm is built
// (`make engine`), lints and renders it with the real helm.
func TestChart(t *testing.T) {
	dir, err := writeChart()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, f := range []string{"Chart.yaml", "values.yaml", "templates/deployment.yaml", "templates/configmap.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("chart file %s: %v", f, err)
		}
	}
	helm := findTool("helm")
	if helm == "" {
		if p, err := filepath.Abs("../../bin/engine/helm"); err == nil {
			if _, err := os.Stat(p); err == nil {
				helm = p
			}
		}
	}
	if helm == "" {
		t.Skip("helm is not built: `make engine`")
	}
	if out, err := exec.Command(helm, "lint", dir).CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	out, err := exec.Command(helm, "template", "kprobe-hello", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "kind: Deployment") || !strings.Contains(string(out), "hello-from-helm") {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
}

// TestNoCluster: without an API server every check after the first is
// skipped with the reason, and the report fails.
func TestNoCluster(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl := findTool("kubectl")
	if kubectl == "" {
		t.Skip("kubectl is not installed")
	}
	rep := Run(context.Background(), Options{Kubeconfig: kc, Kubectl: kubectl, Helm: "/nonexistent/helm"})
	if rep.Passed || len(rep.Checks) != 11 || rep.Checks[0].Outcome != Fail {
		t.Fatalf("report %+v", rep)
	}
	for _, c := range rep.Checks[1:] {
		if c.Outcome != Skipped || c.Evidence == "" {
			t.Errorf("%s: %s %q", c.Name, c.Outcome, c.Evidence)
		}
	}
	for _, m := range []string{webManifest("ns1"), crashManifest("ns1"), readyManifest("ns1")} {
		if !strings.Contains(m, "namespace: ns1") || !strings.Contains(m, "imagePullPolicy: Never") {
			t.Errorf("the manifest ignores its namespace or pulls:\n%s", m)
		}
	}
}

// TestHungAPIServerIsBounded: an API server that accepts connections and
// never answers fails the control-plane check within the verification's
// Timeout, with the evidence, instead of holding it.
func TestHungAPIServerIsBounded(t *testing.T) {
	kubectl := findTool("kubectl")
	if kubectl == "" {
		if p, err := filepath.Abs("../../bin/engine/kubectl"); err == nil {
			if _, err := os.Stat(p); err == nil {
				kubectl = p
			}
		}
	}
	if kubectl == "" {
		t.Skip("kubectl is not built: `make engine`")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // accepted, never answered
		}
	}()
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://`+l.Addr().String()+`", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	const timeout = 4 * time.Second
	done := make(chan *Report, 1)
	go func() {
		done <- Run(context.Background(), Options{Kubeconfig: kc, Kubectl: kubectl, Helm: "/nonexistent/helm", Timeout: timeout})
	}()
	select {
	case rep := <-done:
		if rep.Passed || rep.Checks[0].Outcome != Fail || !strings.Contains(rep.Checks[0].Evidence, "kubectl") {
			t.Fatalf("report %+v", rep)
		}
		t.Logf("control-plane: %s", rep.Checks[0].Evidence)
	case <-time.After(timeout + 30*time.Second):
		t.Fatalf("verify with --timeout %s still runs %s later", timeout, 30*time.Second)
	}
}
