//go:build linux

package overlay_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/overlay"
	"github.com/kprobe/kprobe/probes/probetest"
)

func TestMain(m *testing.M) { probetest.Main(m) }

// mountinfoHas reports whether any line of our mountinfo mentions s.
func mountinfoHas(t *testing.T, s string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), s)
}

// TestLive runs the probe as the scan does, in a re-exec'd child, on this
// machine: root, ext4, overlay mountable on tmpfs and on disk, with and
// without a user namespace; no fuse-overlayfs binary.
func TestLive(t *testing.T) {
	probetest.RequireRoot(t)
	r := probetest.Live(t, overlay.Probe{})
	if r.Error != "" {
		t.Fatalf("error: %s\n%+v", r.Error, r.Evidence)
	}
	for k, want := range map[string]probes.Tri{
		"overlay.listed": probes.Yes, "overlay.mount_tmpfs": probes.Yes, "overlay.mount_datadir": probes.Yes,
		"overlay.userns_tmpfs": probes.Yes, "overlay.userns_datadir": probes.Yes, "overlay.userns_whiteout": probes.Yes,
		"overlay.dev_fuse": probes.Yes,
	} {
		if got := r.Facts.Tri(k); got != want {
			t.Errorf("%s = %v, want %v\nevidence: %+v", k, got, want, r.Evidence)
		}
	}
	_, lookErr := os.Stat("/usr/bin/fuse-overlayfs")
	if got, want := r.Facts.Tri("overlay.fuse_overlayfs"), probes.TriOf(lookErr == nil); got != want {
		t.Errorf("overlay.fuse_overlayfs = %v, want %v", got, want)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings on a host where overlay works: %+v", r.Findings)
	}
	// Nothing left behind: no overlay or tmpfs of ours in the mount table,
	// no scratch dir beside the data dir.
	dd := r.Facts.String("overlay.datadir_path")
	if dd == "" {
		t.Fatal("overlay.datadir_path not set")
	}
	if mountinfoHas(t, "kprobe-overlay") || mountinfoHas(t, ".kprobe-overlay-") {
		t.Error("a kprobe overlay mount is left in the mount table")
	}
	left, _ := filepath.Glob(filepath.Join(dd, ".kprobe-overlay-*"))
	if len(left) != 0 {
		t.Errorf("scratch dirs left behind: %v", left)
	}
	for _, ev := range r.Evidence {
		t.Logf("evidence: %s", ev)
	}
}

// TestLiveMissingDataDir: the data dir does not exist yet; the trial runs
// under its nearest existing ancestor and removes its scratch dir.
func TestLiveMissingDataDir(t *testing.T) {
	probetest.RequireRoot(t)
	parent := t.TempDir()
	env := probes.LiveEnv(filepath.Join(parent, "not", "yet"))
	s := probes.Run(t.Context(), env, []probes.Probe{overlay.Probe{}}, probes.Options{})
	r := s.Results[0]
	if got := r.Facts.String("overlay.datadir_path"); got != parent {
		t.Errorf("overlay.datadir_path = %q, want %q", got, parent)
	}
	if r.Facts.Tri("overlay.mount_datadir") != probes.Yes {
		t.Errorf("overlay.mount_datadir = %v: %+v", r.Facts.Tri("overlay.mount_datadir"), r.Evidence)
	}
	if ents, err := os.ReadDir(parent); err != nil || len(ents) != 0 {
		t.Errorf("left in %s: %v %v", parent, ents, err)
	}
}

// TestTrialInPlace runs the fallback path (no namespace of our own: mount
// in the current namespace without touching propagation) in this test
// process and checks that it unmounts everything.
func TestTrialInPlace(t *testing.T) {
	probetest.RequireRoot(t)
	base := t.TempDir()
	s := overlay.Trial(base, true, false)
	t.Log(s.String())
	for _, step := range []string{"tmpfs", "prepare", "mount", "write", "whiteout", "umount", "umount_tmpfs"} {
		if s.Result[step] != "ok" {
			t.Errorf("step %s = %q in %s", step, s.Result[step], s.String())
		}
	}
	if _, ok := s.Result["private"]; ok {
		t.Error("in-place trial changed propagation")
	}
	if mountinfoHas(t, base) {
		t.Errorf("%s still mounted", base)
	}
}

// TestLiveOverlayOnOverlay puts the data dir inside an overlay mount, as in
// podman: the kernel refuses overlay as upperdir (EINVAL) and the probe
// must say so and emit KP-OVL-001. The outer overlay lives in this test
// process's mount namespace (/ is private on this machine) and is
// unmounted by the cleanup.
func TestLiveOverlayOnOverlay(t *testing.T) {
	probetest.RequireRoot(t)
	base := t.TempDir()
	for _, d := range []string{"l", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	merged := filepath.Join(base, "m")
	opts := "lowerdir=" + filepath.Join(base, "l") + ",upperdir=" + filepath.Join(base, "u") + ",workdir=" + filepath.Join(base, "w")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Skipf("cannot mount the outer overlay: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", merged, err)
		}
	})
	env := probes.LiveEnv(filepath.Join(merged, "k3s"))
	r := probes.Run(t.Context(), env, []probes.Probe{overlay.Probe{}}, probes.Options{}).Results[0]
	if got := r.Facts.Tri("overlay.mount_datadir"); got != probes.No {
		t.Fatalf("overlay.mount_datadir = %v, want no: %+v", got, r.Evidence)
	}
	if got := r.Facts.Tri("overlay.mount_tmpfs"); got != probes.Yes {
		t.Errorf("overlay.mount_tmpfs = %v", got)
	}
	var f *probes.Finding
	for i := range r.Findings {
		if r.Findings[i].Code == overlay.CodeDataDir.Code {
			f = &r.Findings[i]
		}
	}
	if f == nil || f.Evidence.Errno != "EINVAL" {
		t.Fatalf("want KP-OVL-001 with EINVAL, got %+v", r.Findings)
	}
	wantFix := "nothing to do: kprobe launch uses containerd's native snapshotter here"
	if r.Facts.Tri("overlay.fuse_overlayfs") == probes.Yes && r.Facts.Tri("overlay.dev_fuse") == probes.Yes {
		wantFix = "nothing to do: kprobe launch uses containerd's fuse-overlayfs snapshotter here"
	}
	if f.Fix != wantFix {
		t.Errorf("fix %q, want %q", f.Fix, wantFix)
	}
	if ents, _ := os.ReadDir(merged); len(ents) != 0 {
		t.Errorf("left in %s: %v", merged, ents)
	}
	t.Logf("%s: %s (fix %s)", f.Code, f.Summary, f.Fix)
}
