package app

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// TestLogsOfAComponentInsideTheControlPlane: where kube-control-plane runs
// the API server, the controller manager and the scheduler in one
// process, `kprobe logs kube-apiserver` prints that process's log instead
// of refusing a name the user knows; the kubelet's only where the process
// runs it too.
func TestLogsOfAComponentInsideTheControlPlane(t *testing.T) {
	for _, withKubelet := range []bool{false, true} {
		testLogsInsideTheControlPlane(t, withKubelet)
	}
}

func testLogsInsideTheControlPlane(t *testing.T, withKubelet bool) {
	dir := t.TempDir()
	args := []string{"kube-apiserver", "--a", "--", "kube-controller-manager", "--", "kube-scheduler"}
	if withKubelet {
		args = append(args, "--", "kubelet", "--k")
	}
	if err := supervise.WriteSpec(&supervise.Spec{Engine: "kubernetes", DataDir: dir, Processes: []supervise.Process{
		{Name: "etcd", Path: "/usr/bin/etcd"},
		{Name: upstream.ControlPlaneProcessName, Path: "/bin/kube-control-plane", Args: args},
	}}); err != nil {
		t.Fatal(err)
	}
	l := supervise.Layout{DataDir: dir}
	if err := os.MkdirAll(l.LogDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.Log(upstream.ControlPlaneProcessName), []byte("I1207 Serving securely on 127.0.0.1:6443\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	names := []string{"kube-apiserver", "kube-scheduler", upstream.ControlPlaneProcessName}
	if withKubelet {
		names = append(names, "kubelet")
	}
	for _, name := range names {
		var out, errOut bytes.Buffer
		root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		root.SetArgs([]string{"logs", name, "--data-dir", dir})
		if err := root.Execute(); err != nil {
			t.Fatalf("logs %s: %v (%s)", name, err, errOut.String())
		}
		if !strings.Contains(out.String(), "Serving securely") {
			t.Errorf("logs %s printed %q, want the control plane's log", name, out.String())
		}
	}
	if withKubelet {
		return
	}
	var errOut bytes.Buffer
	root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &errOut})
	root.SetArgs([]string{"logs", "kubelet", "--data-dir", dir})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), `no component "kubelet"`) {
		t.Errorf("logs kubelet: %v, want no such component", err)
	}
}
