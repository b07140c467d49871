package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// engineDir is the locally built engine (make engine), or a skip.
func engineDir(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs("../../../bin/engine")
	if _, err := os.Stat(filepath.Join(dir, "kubectl")); err != nil {
		t.Skip("bin/engine/kubectl is not built (make engine)")
	}
	return dir
}

func fakeCluster(t *testing.T) string {
	t.Helper()
	dataDir := t.TempDir()
	kc := `apiVersion: v1
kind: Config
clusters: [{name: kprobe, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: admin, user: {token: x}}]
contexts: [{name: kprobe, context: {cluster: kprobe, user: admin}}]
current-context: kprobe
`
	if err := os.WriteFile(filepath.Join(dataDir, "kubeconfig"), []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return dataDir
}

func TestEnvPrintsPathAndKubeconfig(t *testing.T) {
	engine := engineDir(t)
	dataDir := fakeCluster(t)
	var out, errOut bytes.Buffer
	err := Run(context.Background(), IOStreams{Out: &out, ErrOut: &errOut}, []string{"env", "--data-dir", dataDir, "--bin-dir", engine})
	if err != nil {
		t.Fatalf("env: %v\n%s", err, errOut.String())
	}
	want := "export PATH='" + engine + "':\"$PATH\"\nexport KUBECONFIG='" + filepath.Join(dataDir, "kubeconfig") + "'\n"
	if !strings.HasPrefix(out.String(), want) {
		t.Fatalf("env printed:\n%s\nwant it to start with:\n%s", out.String(), want)
	}

	// No cluster there: bad input, naming the launch command.
	err = Run(context.Background(), IOStreams{Out: &out, ErrOut: &errOut}, []string{"env", "--data-dir", t.TempDir(), "--bin-dir", engine})
	if ExitCode(err, &errOut) != ExitBadInput || !strings.Contains(err.Error(), "kprobe launch --data-dir") {
		t.Fatalf("env without a cluster: %v", err)
	}
}

func TestKubectlPassesTheClustersKubeconfig(t *testing.T) {
	engine := engineDir(t)
	dataDir := fakeCluster(t)
	var out, errOut bytes.Buffer
	// The real kubectl reads the kubeconfig it is given.
	err := Run(context.Background(), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		[]string{"kubectl", "--data-dir=" + dataDir, "--bin-dir", engine, "--", "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"})
	if err != nil || out.String() != "https://127.0.0.1:1" {
		t.Fatalf("kubectl config view = %q, %v\n%s", out.String(), err, errOut.String())
	}
	// kubectl's exit code is kprobe's.
	out.Reset()
	err = Run(context.Background(), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		[]string{"kubectl", "--data-dir", dataDir, "--bin-dir", engine, "--", "no-such-command"})
	if code := ExitCode(err, &errOut); code != 1 {
		t.Fatalf("kubectl no-such-command: exit %d (%v)", code, err)
	}
}
