package verify

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
