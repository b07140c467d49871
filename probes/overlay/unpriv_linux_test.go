//go:build linux

package overlay_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/overlay"
	"github.com/kprobe/kprobe/probes/probetest"
)

const nobody = 65534

// TestUnprivileged runs the probe as uid 65534, like a rootless sandbox
// user: no capabilities, clone(CLONE_NEWNS) refused, user namespaces
// allowed.
func TestUnprivileged(t *testing.T) {
	data := probetest.UserDir(t, nobody)
	r := probetest.RunAs(t, nobody, overlay.Probe{}, filepath.Join(data, "k3s"))
	for k, want := range map[string]any{
		"overlay.mount_tmpfs": probes.No, "overlay.mount_datadir": probes.No, // EPERM: no CAP_SYS_ADMIN, no own mount ns
		"overlay.userns_tmpfs": probes.Yes, "overlay.userns_datadir": probes.Yes, "overlay.userns_whiteout": probes.Yes,
		"overlay.datadir_path": data,
	} {
		if got := r.Facts[k]; got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if want := "refused on tmpfs and the data dir; in a user namespace mounts on tmpfs and the data dir"; !strings.HasPrefix(r.Summary, want) {
		t.Errorf("summary %q, want it to start with %q", r.Summary, want)
	}
	if len(r.Findings) != 1 || r.Findings[0].Code != "KP-OVL-001" || r.Findings[0].Evidence.Errno != "EPERM" {
		t.Errorf("findings %+v, want KP-OVL-001 (EPERM)", r.Findings)
	} else if want := "kprobe run as root of one (unshare --user"; !strings.Contains(r.Findings[0].Fix, want) {
		t.Errorf("fix %q, want it to contain %q", r.Findings[0].Fix, want)
	}
	if ents, _ := os.ReadDir(data); len(ents) != 0 {
		t.Errorf("left in %s: %v", data, ents)
	}
	for _, ev := range r.Evidence {
		t.Logf("evidence: %s", ev)
	}
}

// TestUnprivilegedForeignDataDir runs the probe as uid 65534 with a data
// dir it cannot write (root's, like /var/lib for an unprivileged user in
// a user namespace): the data dir trials move to the probe's temp dir,
// which is on the same filesystem, instead of answering unknown.
func TestUnprivilegedForeignDataDir(t *testing.T) {
	data := t.TempDir() // root's; only reachable
	for _, d := range []string{filepath.Dir(data), data} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := probetest.RunAs(t, nobody, overlay.Probe{}, filepath.Join(data, "k3s"))
	for k, want := range map[string]any{
		"overlay.mount_datadir": probes.No, "overlay.userns_datadir": probes.Yes,
		"overlay.datadir_path": data,
	} {
		if got := r.Facts[k]; got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	moved := false
	for _, ev := range r.Evidence {
		moved = moved || (ev.Source == "mkdir scratch dir under "+data && ev.Errno == "EACCES" && strings.Contains(ev.Excerpt, "on the same filesystem"))
		t.Logf("evidence: %s", ev)
	}
	if !moved {
		t.Error("no evidence of the move to the temp dir")
	}
	if ents, _ := os.ReadDir(data); len(ents) != 0 {
		t.Errorf("left in %s: %v", data, ents)
	}
}
