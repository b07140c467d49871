package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/test/hostcheck"
)

// TestTwoClustersWithPortOffset is issue 16's second cluster on one host:
// a control plane at T3 on the default ports, a second one beside it with
// --port-offset 100, each found by its data dir (status, kubectl through
// its own kubeconfig), stopped one after the other; a worker rung with an
// offset is refused before anything starts; the host is left as it was.
func TestTwoClustersWithPortOffset(t *testing.T) {
	if os.Getenv("KPROBE_E2E") != "1" {
		t.Skip("end-to-end: set KPROBE_E2E=1 as root after `make build engine images addons` (CI does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end test needs root")
	}
	r := run{t: t, bin: kprobeBin(t)}
	tmp := t.TempDir()
	first, second := filepath.Join(tmp, "first"), filepath.Join(tmp, "second")
	before := hostcheck.Take(hostcheck.Options{Exe: r.bin})
	defer func() {
		for _, d := range []string{first, second} {
			if _, err := os.Stat(d); err == nil {
				_, _ = exec.Command(r.bin, "stop", "--purge", "--data-dir", d).CombinedOutput()
			}
		}
	}()

	_, stderr := r.kprobe(3, "launch", "--engine", "kubernetes", "--rung", "T1", "--port-offset", "100", "--data-dir", second, "--no-tui")
	if !strings.Contains(stderr, "--port-offset runs a second cluster at TP or T3 only") {
		t.Errorf("a worker rung with --port-offset:\n%s", stderr)
	}
	r.kprobe(0, "launch", "--engine", "kubernetes", "--rung", "T3", "--data-dir", first, "--no-tui")
	// Without the offset the second one would find the first's ports.
	_, stderr = r.kprobe(3, "launch", "--engine", "kubernetes", "--rung", "T3", "--data-dir", second, "--no-tui")
	if !strings.Contains(stderr, "port 6443 is in use") {
		t.Errorf("a second launch on the same ports:\n%s", stderr)
	}
	r.kprobe(0, "launch", "--engine", "kubernetes", "--rung", "T3", "--port-offset", "100", "--data-dir", second, "--no-tui")
	for dir, port := range map[string]string{first: ":6443", second: ":6543"} {
		out, _ := r.kprobe(0, "status", "--data-dir", dir)
		if !strings.Contains(out, port) {
			t.Errorf("status of %s does not name its API port %s:\n%s", dir, port, out)
		}
		out, _ = r.kprobe(0, "kubectl", "--data-dir", dir, "--", "get", "namespace", "default", "-o", "name")
		if strings.TrimSpace(out) != "namespace/default" {
			t.Errorf("kubectl of %s: %q", dir, out)
		}
	}
	r.kprobe(0, "stop", "--purge", "--data-dir", second)
	out, _ := r.kprobe(0, "status", "--data-dir", first)
	if !strings.Contains(out, "ready=true") {
		t.Errorf("stopping the second cluster touched the first:\n%s", out)
	}
	r.kprobe(0, "stop", "--purge", "--data-dir", first)
	after := hostcheck.Take(hostcheck.Options{Exe: r.bin})
	if d := hostcheck.Diff(before, after); d != "" {
		t.Fatalf("two clusters left the host changed:\n%s", d)
	}
}
