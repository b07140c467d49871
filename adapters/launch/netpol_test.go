package launch

import (
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// A plan that enforces NetworkPolicy keeps doing so only where the
// enforcer can run as planned, and says why not otherwise.
func TestNetpolPreflight(t *testing.T) {
	for _, c := range []struct {
		bin     string
		nodes   int
		enforce bool
		why     string
	}{
		// true and false stand in for the enforcer's --probe answer.
		{"/bin/true", 1, true, ""},
		{"/bin/false", 1, false, "refuses the nftables queue rule"},
		{"", 1, false, "was not found"},
		{"/bin/true", 3, false, "--nodes 3"},
	} {
		plan, err := adapters.Build(&profiles.Profile{Facts: probes.Facts{"net.iptables_nft": probes.Yes}},
			adapters.Options{Engine: adapters.EngineKubernetes, Rung: profiles.T0})
		if err != nil {
			t.Fatal(err)
		}
		netpolPreflight(plan, c.bin, c.nodes)
		if plan.EnforcesNetworkPolicy() != c.enforce || !strings.Contains(plan.WhyNoNetworkPolicy(), c.why) {
			t.Errorf("bin %q nodes %d: enforces %v, why %q", c.bin, c.nodes, plan.EnforcesNetworkPolicy(), plan.WhyNoNetworkPolicy())
		}
		notes := strings.Join(plan.Notes, "\n")
		if strings.Contains(notes, "kube-network-policies enforces") == !c.enforce {
			t.Errorf("bin %q nodes %d: notes %q", c.bin, c.nodes, notes)
		}
	}
}
