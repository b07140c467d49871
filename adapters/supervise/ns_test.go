//go:build linux

package supervise

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJoinNamespacesOf runs a namespace holder (new network and mount
// namespaces, a tmpfs, ready once it says so in a file) and a process
// that joins it: the joiner sees the holder's tmpfs and only a loopback
// interface; the host sees neither. A stale ready file from an earlier
// run must not count: the holder mounts late on purpose.
func TestJoinNamespacesOf(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (unshare, mount, nsenter)")
	}
	for _, tool := range []string{"unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " is missing")
		}
	}
	dir := t.TempDir()
	private := filepath.Join(dir, "private")
	ready := filepath.Join(dir, "ready")
	seen := filepath.Join(dir, "seen")
	if err := os.MkdirAll(private, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ready, nil, 0o644); err != nil { // stale
		t.Fatal(err)
	}
	holder := Process{
		Name: "holder", Path: "unshare",
		Args: []string{"--net", "--mount", "--propagation", "slave", "--", "sh", "-c",
			"sleep 0.3; mount -t tmpfs kprobe-test " + private + " && : > " + ready + " && exec sleep 60"},
		Ready: Ready{File: ready, Timeout: 10 * time.Second}, StopTimeout: time.Second,
	}
	joiner := Process{
		Name: "joiner", Path: "sh", JoinNamespacesOf: "holder",
		Args:  []string{"-c", "{ grep ' " + private + " ' /proc/self/mountinfo; cat /proc/net/dev; } > " + seen + "; exec sleep 60"},
		Ready: Ready{File: seen, Timeout: 10 * time.Second}, StopTimeout: time.Second,
	}
	stop := runSupervisor(t, &Spec{Engine: "test", DataDir: dir, Processes: []Process{holder, joiner}})
	waitPhase(t, dir, "running")
	time.Sleep(100 * time.Millisecond) // the joiner's file is complete
	data, err := os.ReadFile(seen)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out := string(data)
	if !strings.Contains(out, "kprobe-test") {
		t.Errorf("the joiner does not see the holder's tmpfs on %s:\n%s", private, out)
	}
	if strings.Contains(out, "eth0") || !strings.Contains(out, "lo:") {
		t.Errorf("the joiner is not in the holder's network namespace:\n%s", out)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), " "+private+" ") {
		t.Errorf("the holder's tmpfs leaked to the host's mount namespace")
	}
}

func TestReadyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ready")
	r := Ready{File: p}
	if check(t.Context(), r) == nil {
		t.Error("ready before the file exists")
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := check(t.Context(), r); err != nil {
		t.Errorf("not ready with the file: %v", err)
	}
	if r.String() != "file "+p {
		t.Errorf("String() = %q", r.String())
	}
}
