package adapters

import (
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// The facts are the zoo VM's (Debian's kernel 6.1: br_netfilter a module
// nothing loads, root with every capability), then each one changed.
func TestPlanModules(t *testing.T) {
	vm := func(change map[string]any) probes.Facts {
		f := probes.Facts{bridgeNFPresent: probes.No, "kernel.br_netfilter": "module",
			"priv.userns": probes.No, "priv.cap_sys_module": probes.Yes, "net.iptables_nft": probes.Yes}
		for k, v := range change {
			f[k] = v
		}
		return f
	}
	for _, c := range []struct {
		name   string
		facts  probes.Facts
		rung   profiles.Rung
		load   bool
		checks string // in the note when it cannot load: "" for no note
	}{
		{"vm-v2: loadable", vm(nil), profiles.T0, true, ""},
		{"vm-v2 at T1", vm(nil), profiles.T1, true, ""},
		{"sysctl present (built in or loaded)", vm(map[string]any{bridgeNFPresent: probes.Yes, "kernel.br_netfilter": "builtin"}), profiles.T0, false, ""},
		{"presence unknown", vm(map[string]any{bridgeNFPresent: probes.Unknown}), profiles.T0, false, ""},
		{"process pods: no bridge", vm(nil), profiles.TP, false, ""},
		{"no kubelet", vm(nil), profiles.T3, false, ""},
		{"no CAP_SYS_MODULE", vm(map[string]any{"priv.cap_sys_module": probes.No}), profiles.T0,
			false, "CAP_SYS_MODULE is not in the effective set): a pod reaching a Service whose endpoint is on the same bridge gets no answer, so verify's service, dns, replicas, networkpolicy checks cannot pass"},
		{"user namespace", vm(map[string]any{"priv.userns": probes.Yes}), profiles.T1, false, "user namespace"},
		{"no module file", vm(map[string]any{"kernel.br_netfilter": "absent"}), profiles.T0, false, "this kernel has no br_netfilter"},
		{"no /lib/modules (a container)", vm(map[string]any{"kernel.br_netfilter": "unknown"}), profiles.T0, false, "/lib/modules cannot be read"},
		{"no NetworkPolicy enforced", vm(map[string]any{"kernel.br_netfilter": "absent", "net.iptables_nft": probes.No}), profiles.T0, false, "verify's service, dns, replicas checks cannot pass"},
	} {
		p, err := Build(&profiles.Profile{Facts: c.facts}, Options{Engine: EngineKubernetes, Rung: c.rung})
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(p.Modules, BrNetfilter); got != c.load {
			t.Errorf("%s: loads br_netfilter %v, want %v", c.name, got, c.load)
		}
		note := ""
		for _, n := range p.Notes {
			if strings.Contains(n, "cannot load br_netfilter") {
				note = n
			}
		}
		if c.checks == "" && note != "" || c.checks != "" && !strings.Contains(note, c.checks) {
			t.Errorf("%s: note %q, want one with %q", c.name, note, c.checks)
		}
	}
}
