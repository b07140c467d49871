//go:build linux

package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/test/nstest"
)

// The finding: a purge deleted through a bind mount inside the data dir.
// Run in a throw-away mount namespace (unshare -m, private propagation):
// the bind mount never exists on the host.
func TestPurgeNeverCrossesAMount(t *testing.T) {
	if !nstest.InMountNamespace(t) {
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
