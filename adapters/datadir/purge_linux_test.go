//go:build linux

package datadir

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The finding: a purge deleted through a bind mount inside the data dir.
// Run in a throw-away mount namespace (unshare -m, private propagation):
// the bind mount never exists on the host.
func TestPurgeNeverCrossesAMount(t *testing.T) {
	if os.Getenv("KPROBE_DATADIR_IN_NS") != "1" {
		if os.Geteuid() != 0 {
			t.Skip("needs root for a mount namespace")
		}
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("no unshare")
		}
		cmd := exec.Command("unshare", "--mount", "--propagation", "private", os.Args[0], "-test.run", "^TestPurgeNeverCrossesAMount$", "-test.v")
		cmd.Env = append(os.Environ(), "KPROBE_DATADIR_IN_NS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("in a mount namespace: %v\n%s", err, out)
		}
		return
	}
	root := t.TempDir()
	dir, vol := filepath.Join(root, "data"), filepath.Join(root, "volume")
	if err := Create(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{vol, filepath.Join(dir, "kubelet", "pods", "x")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(vol, "data"), []byte("the user's"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "kubelet", "pods", "x")
	if err := unix.Mount(vol, target, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	defer unix.Unmount(target, unix.MNT_DETACH)
	err := Purge(dir)
	if err == nil || !strings.Contains(err.Error(), target) {
		t.Fatalf("purge with a mount inside: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "data")); err != nil || string(b) != "the user's" {
		t.Fatalf("purge deleted through the bind mount: %q %v", b, err)
	}
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	// Unmounted, a second purge removes the rest.
	if err := Purge(dir); err != nil {
		t.Fatalf("purge after the unmount: %v", err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s is still there: %v", dir, err)
	}
}
