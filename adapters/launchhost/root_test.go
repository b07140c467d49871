package launchhost

import (
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

// TestNeedsRoot: what a user other than root can launch (issue #16). A
// worker rung and the k3s engine need root, and the one line says what to
// run instead; process pods and a control plane of the kubernetes engine
// do not.
func TestNeedsRoot(t *testing.T) {
	for _, c := range []struct {
		euid   int
		rung   profiles.Rung
		engine string
		want   string // "" for no error
	}{
		{0, profiles.T0, adapters.EngineK3s, ""},
		{0, profiles.T0, adapters.EngineKubernetes, ""},
		{1000, profiles.T0, adapters.EngineKubernetes, "needs root for rung T0"},
		{1000, profiles.T2, "", "needs root for rung T2"},
		{1000, profiles.TP, adapters.EngineKubernetes, ""},
		{1000, profiles.T3, adapters.EngineKubernetes, ""},
		{1000, profiles.T3, adapters.EngineK3s, "needs root for the k3s engine"},
	} {
		err := NeedsRoot(c.euid, c.rung, c.engine)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("uid %d %s %s: %v, want no error", c.euid, c.rung, c.engine, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "kprobe launch --rung TP")):
			t.Errorf("uid %d %s %s: %v, want %q and the process-pod command", c.euid, c.rung, c.engine, err, c.want)
		}
	}
}
