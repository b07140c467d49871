package adapters

import (
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// The kubernetes engine enforces NetworkPolicy (kube-network-policies)
// only on a worker rung where nf_tables works, and its plan says which.
func TestUpstreamNetworkPolicy(t *testing.T) {
	for _, c := range []struct {
		nft     probes.Tri
		rung    profiles.Rung
		enforce bool
		title   string
	}{
		{probes.Yes, profiles.T0, true, "NetworkPolicy by kube-network-policies where the kernel can queue packets to it: launch checks"},
		{probes.Yes, profiles.T1, true, "NetworkPolicy by kube-network-policies where the kernel can queue packets to it: launch checks"},
		{probes.No, profiles.T0, false, "NetworkPolicy not enforced"},
		{probes.Unknown, profiles.T1, false, "NetworkPolicy not enforced"},
		{probes.Yes, profiles.T2, false, "NetworkPolicy not enforced"},
		{probes.Yes, profiles.T3, false, ""},
	} {
		p, err := Build(&profiles.Profile{Facts: probes.Facts{"net.iptables_nft": c.nft}}, Options{Engine: EngineKubernetes, Rung: c.rung})
		if err != nil {
			t.Fatal(err)
		}
		if p.EnforcesNetworkPolicy() != c.enforce || !strings.Contains(p.RungTitle(), c.title) {
			t.Errorf("nft %s rung %s: enforces %v, title %q; want %v, %q", c.nft, c.rung, p.EnforcesNetworkPolicy(), p.RungTitle(), c.enforce, c.title)
		}
		if !c.enforce && c.rung != profiles.T3 && !p.Has("disable-network-policy") {
			t.Errorf("nft %s rung %s: no disable-network-policy setting", c.nft, c.rung)
		}
	}
}

func TestBuildAppliesRulesWithReasons(t *testing.T) {
	host := &profiles.Profile{Facts: probes.Facts{
		"cgroups.layout": "hybrid", "priv.cap_sys_resource": probes.No, "res.swap_bytes": int64(0),
		"net.iptables_nft": probes.Yes,
	}}
	p, err := Build(host, Options{Engine: EngineKubernetes, DataDir: "/var/lib/kprobe"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"kubelet/fail-cgroupv1": "R-CGROUP-V1", "containerd/restrict_oom_score_adj": "R-OOM-SCORE"}
	if len(p.Settings) != len(want) {
		t.Fatalf("settings %v, want %v", p.Settings, want)
	}
	for _, s := range p.Settings {
		if want[string(s.Component)+"/"+s.Name] != s.Reason || s.Rationale == "" || s.Source == "" {
			t.Errorf("setting %v: reason %q rationale %q source %q", s, s.Reason, s.Rationale, s.Source)
		}
	}
	// A cgroup v2 host with every capability and swap gets only the swap rule.
	v2 := &profiles.Profile{Facts: probes.Facts{
		"cgroups.layout": "v2", "priv.cap_sys_resource": probes.Yes, "res.swap_bytes": int64(1 << 30),
	}}
	p, _ = Build(v2, Options{})
	if v, ok := p.Get(Kubelet, "fail-swap-on"); !ok || v != "false" || len(p.Settings) != 1 {
		t.Errorf("v2 host with swap: %v", p.Settings)
	}
	// Unknown facts set nothing: a rule never fires on a blind spot.
	p, _ = Build(&profiles.Profile{Facts: probes.Facts{}}, Options{})
	if len(p.Settings) != 0 {
		t.Errorf("no facts, settings %v", p.Settings)
	}
	// Rung-only rules apply to their rung alone.
	p, _ = Build(host, Options{Rung: profiles.T3})
	if !p.Has("disable-agent") || p.Rung != profiles.T3 {
		t.Errorf("T3 plan: %v", p.Settings)
	}
	p, _ = Build(host, Options{Rung: profiles.T2})
	if p.Has("disable-agent") || !p.Has("disable-kube-proxy") {
		t.Errorf("T2 plan: %v", p.Settings)
	}
	if _, err := Build(host, Options{Rung: "T9"}); err == nil {
		t.Error("rung T9 accepted")
	}
	if _, err := Build(nil, Options{}); err == nil {
		t.Error("a nil profile was accepted")
	}
}

func TestRulesAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules {
		if r.Code == "" || r.When == nil && len(r.Rungs) == 0 || r.Rationale == "" || r.Source == "" {
			t.Errorf("rule %q is missing a code, condition, rationale or source", r.Code)
		}
		if seen[r.Code] {
			t.Errorf("duplicate rule code %s", r.Code)
		}
		seen[r.Code] = true
		if len(r.Settings)+len(r.Shims) == 0 {
			t.Errorf("rule %s sets nothing", r.Code)
		}
	}
}
