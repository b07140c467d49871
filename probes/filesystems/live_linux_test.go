//go:build linux

package filesystems_test

import (
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/filesystems"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// TestLive checks the probe against this machine: an ext4 root on a block
// device (/dev/vda), with the data dir a temp dir on it.
func TestLive(t *testing.T) {
	probetest.RequireRoot(t)
	r := probetest.Live(t, filesystems.Probe{})
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	f := r.Facts
	want := "ext4"
	if out, err := exec.Command("findmnt", "-n", "-o", "FSTYPE", "/").Output(); err == nil {
		want = strings.TrimSpace(string(out))
	}
	if got := f.String("fs.root.type"); got != want {
		t.Errorf("fs.root.type = %q, findmnt says %q", got, want)
	}
	if got := f.String("fs.root.fstype_statfs"); got != "ext4" {
		t.Errorf("fs.root.fstype_statfs = %q", got)
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	free, _ := f.Int("fs.root.free_bytes")
	if want := int64(st.Bavail) * st.Bsize; free <= 0 || free > 2*want || free < want/2 {
		t.Errorf("fs.root.free_bytes = %d, statfs says %d", free, want)
	}
	for k, want := range map[string]probes.Tri{
		"fs.root.block_device": probes.Yes, "fs.datadir.exists": probes.Yes, "fs.datadir.block_device": probes.Yes,
		"fs.datadir.kubelet_stats": probes.Yes, "fs.datadir.dtype": probes.Yes, "fs.datadir.overlay_upper": probes.Yes,
		"fs.kubelet.kubelet_stats": probes.Yes,
	} {
		if got := f.Tri(k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if f.String("fs.datadir.type") != "ext4" || f.String("fs.kubelet.type") != "ext4" || f.String("fs.rancher.type") != "ext4" {
		t.Errorf("types: datadir %q kubelet %q rancher %q", f.String("fs.datadir.type"), f.String("fs.kubelet.type"), f.String("fs.rancher.type"))
	}
	if n, _ := f.Int("fs.mount_count"); n < 5 {
		t.Errorf("fs.mount_count = %d", n)
	}
	for _, x := range r.Findings {
		if x.Severity == probes.Block {
			t.Errorf("unexpected blocker %s: %s", x.Code, x.Summary)
		}
	}
	t.Logf("status %s, facts %v, findings %+v", r.Status, f, r.Findings)
}

// TestLiveTmpfsDataDir mounts a small tmpfs (in this test process's mount
// namespace; / is private here; unmounted by the cleanup) and points the
// data dir into it: mountinfo and statfs must agree on tmpfs, which is no
// block device, and the 8 MiB must trip KP-FS-005.
func TestLiveTmpfsDataDir(t *testing.T) {
	probetest.RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	env := probes.LiveEnv(dir + "/k3s")
	r := probes.Run(t.Context(), env, []probes.Probe{filesystems.Probe{}}, probes.Options{}).Results[0]
	f := r.Facts
	for k, want := range map[string]string{
		"fs.datadir.type": "tmpfs", "fs.datadir.fstype_statfs": "tmpfs", "fs.datadir.mountpoint": dir,
		"fs.datadir.existing": dir, "fs.root.type": "ext4",
	} {
		if got := f.String(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]probes.Tri{
		"fs.datadir.exists": probes.No, "fs.datadir.block_device": probes.No, "fs.datadir.kubelet_stats": probes.No,
		"fs.datadir.dtype": probes.Yes, "fs.datadir.overlay_upper": probes.Yes,
	} {
		if got := f.Tri(k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if got := strings.Join(obstest.Codes(r.Findings), ","); got != "KP-FS-001,KP-FS-005" {
		t.Errorf("codes %s, want KP-FS-001,KP-FS-005: %+v", got, r.Findings)
	}
}
