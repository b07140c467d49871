package profiles

import (
	"testing"

	"github.com/kprobe/kprobe/probes"
)

// fullHost is what a permissive host (this machine) looks like.
func fullHost() probes.Facts {
	return probes.Facts{
		"res.memory_bytes": int64(24 << 30), "net.interfaces": []string{"lo", "eth0"},
		"container.best": "full", "ns.mount": probes.Yes, "net.iptables_backend": "nft",
		"net.veth": probes.Yes, "net.bridge": probes.Yes, "overlay.mount_datadir": probes.Yes,
		"net.vxlan": probes.Yes, "dev.kmsg_readable": probes.Yes, "cgroups.writable": probes.Yes,
		"fs.datadir.kubelet_stats": probes.Yes, "mount.rshared_possible": probes.Yes, "priv.userns": probes.No,
	}
}

func TestJudgeLadder(t *testing.T) {
	cases := []struct {
		name string
		edit probes.Facts
		want Rung
	}{
		{"permissive host", nil, T0},
		{"no /dev/kmsg", probes.Facts{"dev.kmsg_readable": probes.No}, T1},
		{"user namespace", probes.Facts{"priv.userns": probes.Yes}, T1},
		{"no iptables", probes.Facts{"net.iptables_backend": "none"}, T2},
		{"no container", probes.Facts{"container.best": "none"}, T3},
		{"gVisor-like", probes.Facts{"container.best": "none", "net.iptables_backend": "none",
			"dev.kmsg_readable": probes.No, "overlay.mount_datadir": probes.No}, T3},
		{"tiny memory", probes.Facts{"res.memory_bytes": int64(256 << 20)}, T4},
		{"no loopback", probes.Facts{"net.interfaces": []string{"eth0"}}, T4},
		// A blind spot is never a blocker.
		{"container unknown", probes.Facts{"container.best": ""}, T0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := fullHost()
			for k, v := range c.edit {
				if v == "" {
					delete(f, k)
					continue
				}
				f[k] = v
			}
			v := Judge(f)
			if v.Rung != c.want {
				t.Fatalf("rung %s, want %s; checks %+v", v.Rung, c.want, v.Checks)
			}
			for _, rc := range v.Checks {
				above := rc.Rung < c.want
				if above && (rc.Possible || len(rc.Blockers) == 0) {
					t.Errorf("%s above the verdict must list its blockers: %+v", rc.Rung, rc)
				}
			}
		})
	}
	v := Judge(probes.Facts{})
	if v.Rung != T0 || len(v.Checks[0].Unverified) != len(Ladder) {
		t.Errorf("no facts: every requirement is unverified, none blocks: %+v", v)
	}
}
