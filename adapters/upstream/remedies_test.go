package upstream

import (
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/signatures"
	"github.com/kprobe/kprobe/profiles"
)

// TestSignatureRemediesRender (issue #16): every setting a log
// signature's remedy offers a kubernetes engine's plan
// (signatures.Next) is one this renderer passes on: a flag of the
// component's process, a key of containerd's CRI config, containerd's
// snapshotter, or a process left out. A remedy this engine cannot read
// must not be offered (signatures.TestRemediesFitTheEngine).
func TestSignatureRemediesRender(t *testing.T) {
	n := 0
	for _, s := range signatures.Table() {
		if s.Action.Kind != signatures.Remedy {
			continue
		}
		for _, rung := range []profiles.Rung{profiles.T0, profiles.T1, profiles.T2} {
			plan := &adapters.Plan{Engine: adapters.EngineKubernetes, Rung: rung}
			d := signatures.Next(plan, &s.Action, nil)
			plan.Settings = d.Settings
			r, err := Render(plan, testConfig())
			if err != nil {
				t.Fatalf("%s at %s: %v", s.Code, rung, err)
			}
			args := map[string][]string{}
			for _, p := range r.Processes {
				args[p.Name] = p.Args
			}
			cfg := r.Files["/var/lib/kprobe/containerd/config.toml"]
			for _, st := range d.Settings {
				n++
				var ok bool
				switch {
				case st.Component == adapters.Containerd:
					ok = strings.Contains(cfg, "\n  "+st.Name+" = "+tomlValue(st.Value)+"\n")
				case st.Component == adapters.Cluster && st.Name == "snapshotter":
					ok = strings.Contains(cfg, `snapshotter = "`+st.Value+`"`)
				case st.Component == adapters.Cluster && st.Name == "disable-kube-proxy":
					_, running := args["kube-proxy"]
					ok = !running
				case st.Component == adapters.Cluster && st.Name == "disable-network-policy":
					_, running := args[NetworkPolicyProcessName]
					ok = !running
				case st.Component != adapters.Cluster:
					ok = slices.Contains(args[string(st.Component)], "--"+st.Name+"="+st.Value)
				}
				if !ok {
					t.Errorf("%s at %s: the remedy's %s is offered, and the kubernetes engine does not render it", s.Code, rung, st)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no remedy rendered: the walk is broken")
	}
}
