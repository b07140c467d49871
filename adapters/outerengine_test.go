package adapters

import (
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// Issue #18: where an outer engine's socket is reachable (Codespaces'
// docker-outside-of-docker), a sandbox that reaches only T3 or TP itself
// can still have a T0 cluster of sibling containers; the plan says how.
func TestPlanOffersTheSiblingContainerRoute(t *testing.T) {
	for _, c := range []struct {
		name    string
		sockets probes.Tri
		rung    profiles.Rung
		offered bool
	}{
		{"socket reachable, control plane only", probes.Yes, profiles.T3, true},
		{"socket reachable, process pods", probes.Yes, profiles.TP, true},
		{"socket reachable, T0 here already", probes.Yes, profiles.T0, false},
		{"no socket", probes.No, profiles.T3, false},
		{"replayed capture", probes.Unknown, profiles.T3, false},
	} {
		for _, engine := range []string{EngineKubernetes, EngineK3s} {
			p, err := Build(&profiles.Profile{Facts: probes.Facts{"net.engine_sockets": c.sockets}}, Options{Engine: engine, Rung: c.rung})
			if err != nil {
				t.Fatal(err)
			}
			got := slices.ContainsFunc(p.Notes, func(n string) bool {
				return strings.Contains(n, "KP-NET-019") && strings.Contains(n, "kind create cluster")
			})
			if got != c.offered {
				t.Errorf("%s (%s): offered %v, want %v; notes %q", c.name, engine, got, c.offered, p.Notes)
			}
		}
	}
}
