//go:build linux

package overlay_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/overlay"
	"github.com/kprobe/kprobe/probes/probetest"
)

// TestFoldKeepsFacts runs the probe three ways on this machine: as the
// scan does (a child in a private mount namespace: the two trials
// without a user namespace in the child itself, the two with one sharing
// one grandchild), in this test process (each trial without a user
// namespace in a grandchild of its own, the user namespace pair shared),
// and in this test process with every trial in its own grandchild (the
// way before the fold). Facts must be equal, and the user namespace
// trials must have run (not Unknown).
func TestFoldKeepsFacts(t *testing.T) {
	probetest.RequireRoot(t)
	dataDir := t.TempDir()
	folded := probes.Run(t.Context(), probes.LiveEnv(dataDir), []probes.Probe{overlay.Probe{}}, probes.Options{}).Results[0]
	direct := func(separate bool) probes.Result {
		defer overlay.SetSeparateUserns(separate)()
		env := probes.LiveEnv(dataDir)
		env.Active, env.TempDir = nil, t.TempDir() // in this process
		return probes.Run(t.Context(), env, []probes.Probe{overlay.Probe{}}, probes.Options{}).Results[0]
	}
	shared, separate := direct(false), direct(true)
	for _, k := range []string{"overlay.mount_tmpfs", "overlay.userns_tmpfs", "overlay.mount_datadir", "overlay.userns_datadir"} {
		if folded.Facts.Tri(k) == probes.Unknown {
			t.Errorf("%s unknown in the folded run: %+v", k, folded.Evidence)
		}
	}
	if !reflect.DeepEqual(folded.Facts, separate.Facts) {
		t.Errorf("folded facts differ from separate trials:\nfolded   %v\nseparate %v", folded.Facts, separate.Facts)
	}
	if !reflect.DeepEqual(shared.Facts, separate.Facts) {
		t.Errorf("shared user namespace facts differ from separate trials:\nshared   %v\nseparate %v", shared.Facts, separate.Facts)
	}
	// The folded trials say where they ran.
	here := 0
	for _, ev := range folded.Evidence {
		if strings.Contains(ev.Source, "in the probe's private mount namespace") {
			here++
		}
	}
	if here != 2 {
		t.Errorf("%d trials ran in the probe child's namespace, want 2: %+v", here, folded.Evidence)
	}
	for _, ev := range folded.Evidence {
		t.Logf("folded: %s", ev)
	}
}
