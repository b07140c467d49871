//go:build linux

package mounts_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/mounts"
	"github.com/kprobe/kprobe/probes/probetest"
)

func TestMain(m *testing.M) { probetest.Main(m) }

// findmnt answers the propagation of / as util-linux sees it.
func findmnt(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("findmnt", "-n", "-o", "PROPAGATION", "/").Output()
	if err != nil {
		t.Skipf("findmnt: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestLivePassive compares with findmnt (private on this machine).
func TestLivePassive(t *testing.T) {
	want := findmnt(t)
	r := probetest.Live(t, mounts.Probe{})
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	// findmnt prints "shared", "private", "private,slave", "shared,slave".
	got := r.Facts.String("mount.root_propagation")
	switch {
	case strings.Contains(want, "shared") && got != "shared",
		want == "private" && got != "private",
		want == "private,slave" && got != "slave":
		t.Errorf("mount.root_propagation = %q, findmnt says %q", got, want)
	}
	if notShared := !strings.Contains(want, "shared"); notShared != (len(r.Findings) == 1) {
		t.Errorf("findings %+v with / %s", r.Findings, want)
	}
	t.Logf("/ is %s (findmnt %s), findings %+v", got, want, r.Findings)
}

// TestLiveActive runs mounts.rshared in a child: root with every mount
// capability, so everything works, and the propagation of / here must not
// change.
func TestLiveActive(t *testing.T) {
	probetest.RequireRoot(t)
	before := findmnt(t)
	r := probetest.Live(t, mounts.RShared{})
	if r.Error != "" {
		t.Fatalf("%s: %+v", r.Error, r.Evidence)
	}
	for _, k := range []string{"mount.rshared_possible", "mount.rbind", "mount.userns_rshared", "mount.userns_rbind"} {
		if got := r.Facts.Tri(k); got != probes.Yes {
			t.Errorf("%s = %v, want yes: %+v", k, got, r.Evidence)
		}
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings: %+v", r.Findings)
	}
	if after := findmnt(t); after != before {
		t.Errorf("propagation of / changed: %s -> %s", before, after)
	}
	// Other packages' tests may mount concurrently: look for ours only.
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), "kprobe-mounts.rshared") {
		t.Errorf("a mount of the probe is left:\n%s", mi)
	}
	for _, ev := range r.Evidence {
		t.Logf("evidence: %s", ev)
	}
}

// TestTrialInPlace is the path taken when the child has no mount namespace
// of its own: only the rbind, undone, and / untouched.
func TestTrialInPlace(t *testing.T) {
	probetest.RequireRoot(t)
	before := findmnt(t)
	base := t.TempDir()
	s := mounts.Trial(base, false, false)
	if s.String() != "prepare=ok rbind=ok rbind_check=ok umount=ok" {
		t.Errorf("steps %s", s.String())
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), base) {
		t.Errorf("%s still mounted", base)
	}
	if after := findmnt(t); after != before {
		t.Errorf("propagation of / changed: %s -> %s", before, after)
	}
}

// TestRunSpawnedNamespace runs RShared.Run in this test process, which has
// no private mount namespace (KPROBE_CHILD_NEWNS unset): the steps must run
// in a grandchild cloned with CLONE_NEWNS, leaving / here alone.
func TestRunSpawnedNamespace(t *testing.T) {
	probetest.RequireRoot(t)
	if os.Getenv("KPROBE_CHILD_NEWNS") == "1" {
		t.Skip("already in a private namespace")
	}
	before := findmnt(t)
	env := &probes.Env{Root: os.DirFS("/"), Sys: probes.LiveSys(), TempDir: t.TempDir()}
	o, err := mounts.RShared{}.Run(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	if o.Facts.Tri("mount.rshared_possible") != probes.Yes || o.Facts.Tri("mount.rbind") != probes.Yes {
		t.Errorf("facts %v", o.Facts)
	}
	if len(o.Evidence) == 0 || o.Evidence[0].Source != "new mount namespace" ||
		!strings.HasPrefix(o.Evidence[0].Excerpt, "private=ok rshared=ok shared_check=ok restore=ok") {
		t.Errorf("evidence %+v", o.Evidence)
	}
	if after := findmnt(t); after != before {
		t.Errorf("propagation of / changed: %s -> %s", before, after)
	}
}
