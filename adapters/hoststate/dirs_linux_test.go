//go:build linux

package hoststate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/test/nstest"
)

// The finding: stop left /var/log/containers, runc state under
// /run/containerd and CNI results in /var/lib/cni. Run in a throw-away
// mount namespace with tmpfs over /var/log, /var/lib and /run, so the
// host's directories are neither read nor touched.
func TestUndoDirsRemovesOnlyTheClustersEntries(t *testing.T) {
	if !nstest.InMountNamespace(t) {
		return
	}
	for _, d := range []string{"/var/log", "/var/lib", "/run"} {
		if err := unix.Mount("kprobe-test", d, "tmpfs", 0, "mode=755"); err != nil {
			t.Skipf("tmpfs on %s: %v", d, err)
		}
	}
	write := func(p, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Before the launch: another runtime's CNI results exist.
	write("/var/lib/cni/results/other-net-abc-eth0", "{}")
	data := "/var/lib/kprobe-test-data"
	s := &Snapshot{}
	s.takeDirs()
	// The cluster runs: the kubelet's log symlinks, runc's state, libcni's
	// results, one of them in the existing directory.
	if err := os.MkdirAll("/var/log/containers", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(data+"/logs/pods/p/c/0.log", "/var/log/containers/p_default_c-1.log"); err != nil {
		t.Fatal(err)
	}
	write("/run/containerd/runc/k8s.io/0123/state.json", `{"config":{"rootfs":"`+data+`/containerd/state/x/rootfs"}}`)
	write("/var/lib/cni/results/kprobe-0123-eth0", "{}")
	write("/var/lib/cni/results/other-net-def-eth0", "{}") // not the cluster's network
	var notes []string
	var errs []error
	s.undoDirs(Scope{DataDir: data, CNINetwork: "kprobe"}, func(f string, a ...any) { notes = append(notes, f) }, func(e error) { errs = append(errs, e) })
	if len(errs) > 0 {
		t.Fatalf("undo: %v", errs)
	}
	for _, gone := range []string{"/var/log/containers", "/run/containerd", "/var/lib/cni/results/kprobe-0123-eth0"} {
		if _, err := os.Lstat(gone); !os.IsNotExist(err) {
			t.Errorf("%s is still there", gone)
		}
	}
	for _, kept := range []string{"/var/lib/cni/results/other-net-abc-eth0", "/var/lib/cni/results/other-net-def-eth0"} {
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("%s, not the cluster's, went: %v", kept, err)
		}
	}
	// A directory the cluster made that holds a mount point is kept.
	if err := os.MkdirAll("/var/lib/kubelet/pods/x/volumes/v", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("kprobe-test", "/var/lib/kubelet/pods/x/volumes/v", "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	write("/var/lib/kubelet/pods/x/volumes/v/data", "the pod's")
	errs = nil
	s.undoDirs(Scope{DataDir: data}, func(string, ...any) {}, func(e error) { errs = append(errs, e) })
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "mount point") {
		t.Fatalf("a mount inside a new directory: %v", errs)
	}
	if _, err := os.Stat("/var/lib/kubelet/pods/x/volumes/v/data"); err != nil {
		t.Fatal("removed across a mount point:", err)
	}
}
