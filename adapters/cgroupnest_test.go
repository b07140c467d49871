package adapters

import (
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// The kubelet's cgroup root is nested below the own cgroup only in a
// container whose cgroup mounts show the host's tree (issue #18: in Docker
// --privileged without a cgroup namespace pods' cgroups went to the top of
// the host's tree), and the plan says so in one setting.
func TestNestedCgroupRoot(t *testing.T) {
	hostcg := probes.Facts{"identity.sandbox": "container", "cgroups.own_path": "/zoo-1", "cgroups.layout": "hybrid", "cgroups.writable": probes.Yes}
	with := func(k string, v any) probes.Facts {
		f := probes.Facts{}
		for a, b := range hostcg {
			f[a] = b
		}
		f[k] = v
		return f
	}
	for _, c := range []struct {
		name  string
		facts probes.Facts
		want  string
	}{
		{"host tree bound into a container", hostcg, "/zoo-1/kprobe-pods"},
		{"docker v1", with("cgroups.own_path", "/docker/abc"), "/docker/abc/kprobe-pods"},
		{"cgroup namespace: nested already", with("cgroups.own_path", "/"), ""},
		{"hierarchies disagree", with("cgroups.own_path", ""), ""},
		{"this host: not a container", with("identity.sandbox", "host"), ""},
		{"a VM", with("identity.sandbox", "vm"), ""},
		{"read-only cgroupfs", with("cgroups.writable", probes.No), ""},
		{"v2: own cgroup holds processes", with("cgroups.layout", "v2"), ""},
		{"v2 delegating", func() probes.Facts {
			f := with("cgroups.layout", "v2")
			f["cgroups.needs_evacuation"] = probes.No
			return f
		}(), "/zoo-1/kprobe-pods"},
		{"a relative path from a capture", with("cgroups.own_path", "zoo/../.."), ""},
		{"a glob from a capture", with("cgroups.own_path", "/zoo*"), ""},
	} {
		if got := NestedCgroupRoot(c.facts); got != c.want {
			t.Errorf("%s: NestedCgroupRoot = %q, want %q", c.name, got, c.want)
		}
	}

	p, err := Build(&profiles.Profile{Facts: hostcg}, Options{Engine: EngineKubernetes, Rung: profiles.T0})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Get(Kubelet, "cgroup-root"); v != "/zoo-1/kprobe-pods" {
		t.Errorf("T0 plan: kubelet cgroup-root = %q, want /zoo-1/kprobe-pods", v)
	}
	for _, r := range []profiles.Rung{profiles.T3, profiles.TP} {
		p, _ := Build(&profiles.Profile{Facts: hostcg}, Options{Engine: EngineKubernetes, Rung: r})
		if v, ok := p.Get(Kubelet, "cgroup-root"); ok {
			t.Errorf("%s runs no kubelet, yet cgroup-root = %q", r, v)
		}
	}
	p, _ = Build(&profiles.Profile{Facts: with("cgroups.layout", "v2")}, Options{Engine: EngineKubernetes, Rung: profiles.T0})
	if !strings.Contains(strings.Join(p.Notes, "\n"), "holds processes") {
		t.Errorf("v2 without delegation: no note on why pods' cgroups stay at the top: %q", p.Notes)
	}
}
