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

// A plan speaks the vocabulary of its engine (issue #16): a k3s plan sets
// k3s's flags (flannel-backend, disable-agent), a kubernetes plan only
// what adapters/upstream reads, whichever rung, and neither is decided by
// a requirement of the other engine (vxlan is k3s's).
func TestPlanSpeaksItsEngine(t *testing.T) {
	// A host without vxlan links; otherwise T0 (profiles.TestLadderPerEngine).
	f := probes.Facts{
		"res.memory_bytes": int64(24 << 30), "net.interfaces": []string{"lo", "eth0"},
		"container.best": "full", "ns.mount": probes.Yes, "net.iptables_backend": "nft", "net.iptables_nft": probes.Yes,
		"net.veth": probes.Yes, "net.bridge": probes.Yes, "overlay.mount_datadir": probes.Yes, "fs.datadir.dtype": probes.Yes,
		"dev.mknod_whiteout": probes.Yes, "net.vxlan": probes.No, "dev.kmsg_readable": probes.Yes, "cgroups.writable": probes.Yes,
		"fs.datadir.kubelet_stats": probes.Yes, "mount.rshared_possible": probes.Yes, "priv.userns": probes.No,
		"fs.engine_dirs": probes.Yes, "sysctl.net.ipv4.ip_forward": "writable", "sysctl.net.ipv4.ip_forward.value": "1",
		"fs.datadir.type": "9p", "overlay.mount_tmpfs": probes.Yes,
	}
	prof := &profiles.Profile{Facts: f, Verdict: profiles.Judge(f)}
	read := map[string]bool{"snapshotter": true, "disable-kube-proxy": true, "disable-network-policy": true}
	for _, c := range []struct {
		engine string
		rung   profiles.Rung
		want   profiles.Rung
		set    []string // cluster settings that must be there
	}{
		{EngineK3s, "", profiles.T1, []string{"flannel-backend=host-gw", "data-dir=" + TmpfsDataDir}},
		{EngineKubernetes, "", profiles.T0, []string{"snapshotter=overlayfs"}},
		{EngineK3s, profiles.T3, profiles.T3, []string{"disable-agent=true", "flannel-backend=none"}},
		{EngineKubernetes, profiles.T3, profiles.T3, []string{"disable-network-policy=true"}},
		{EngineKubernetes, profiles.TP, profiles.TP, []string{"disable-network-policy=true"}},
		{EngineKubernetes, profiles.T2, profiles.T2, []string{"disable-kube-proxy=true", "disable-network-policy=true"}},
	} {
		p, err := Build(prof, Options{Engine: c.engine, Rung: c.rung})
		if err != nil {
			t.Fatal(err)
		}
		var cluster []string
		for _, s := range p.For(Cluster) {
			cluster = append(cluster, s.Name+"="+s.Value)
			if c.engine == EngineKubernetes && !read[s.Name] {
				t.Errorf("%s %s: %s, which the kubernetes engine does not read", c.engine, p.Rung, s)
			}
		}
		for _, w := range c.set {
			if !strings.Contains(" "+strings.Join(cluster, " ")+" ", " "+w+" ") {
				t.Errorf("%s %s: cluster settings %v, want %s", c.engine, p.Rung, cluster, w)
			}
		}
		if p.Rung != c.want {
			t.Errorf("%s: rung %s, want %s", c.engine, p.Rung, c.want)
		}
		for _, rc := range p.Verdict.Checks {
			for _, u := range append(rc.Blockers, rc.Unverified...) {
				if c.engine == EngineKubernetes && strings.Contains(u.Requirement, "vxlan") {
					t.Errorf("kubernetes %s: %s lists %q", p.Rung, rc.Rung, u.Requirement)
				}
			}
		}
		if p.Worker() != (profiles.Index(p.Rung) <= profiles.Index(profiles.T2)) {
			t.Errorf("%s %s: Worker() %v", c.engine, p.Rung, p.Worker())
		}
	}
}
