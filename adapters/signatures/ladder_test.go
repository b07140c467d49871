package signatures

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

// running are the rungs where an attempt runs.
var running = []profiles.Rung{profiles.T0, profiles.T1, profiles.T2, profiles.TP, profiles.T3}

// attemptKey identifies an attempt: its rung, settings and shims.
func attemptKey(p *adapters.Plan) string {
	var items []string
	for _, s := range p.Settings {
		items = append(items, s.String())
	}
	for _, s := range p.Shims {
		items = append(items, "shim "+s.Name)
	}
	sort.Strings(items)
	return string(p.Rung) + "|" + strings.Join(items, ";")
}

// apply is what the launcher does with a decision: the next attempt's plan.
func apply(p *adapters.Plan, d Decision) *adapters.Plan {
	if d.Rung != p.Rung {
		return &adapters.Plan{Rung: d.Rung}
	}
	q := &adapters.Plan{Rung: p.Rung, Settings: slices.Clone(p.Settings), Shims: slices.Clone(p.Shims)}
	q.Settings = append(q.Settings, d.Settings...)
	q.Shims = append(q.Shims, d.Shims...)
	return q
}

func noTP(r profiles.Rung) bool { return r != profiles.TP }

// TestNextEverySignatureAndRung drives the ladder's decision with every
// signature of the table firing at every rung, again and again, as the
// launcher would: no attempt ever runs twice, a remedy already in the
// plan steps down, a step down never goes above the signature's AtMost,
// and with TP ruled out the ladder never plans it.
func TestNextEverySignatureAndRung(t *testing.T) {
	for i := range Table() {
		s := &Table()[i]
		for _, start := range running {
			for _, allows := range []func(profiles.Rung) bool{nil, noTP} {
				if allows != nil && !allows(start) {
					continue
				}
				name := fmt.Sprintf("%s/%s/tp=%v", s.Code, start, allows == nil)
				plan := &adapters.Plan{Rung: start}
				seen := map[string]bool{attemptKey(plan): true}
				for step := 0; ; step++ {
					if step > 2*len(profiles.Rungs) {
						t.Fatalf("%s: the ladder does not end", name)
					}
					d := Next(plan, &s.Action, allows)
					if s.Action.Kind == Advisory {
						if d.Stop || d.Rung != plan.Rung {
							t.Errorf("%s: an advisory ends the attempt: %+v", name, d)
						}
						break
					}
					if !d.Stop {
						t.Errorf("%s: a %s signature does not end the attempt", name, s.Action.Kind)
					}
					if !d.Retries() {
						break
					}
					if profiles.Above(d.Rung, plan.Rung) {
						t.Errorf("%s: climbs from %s to %s", name, plan.Rung, d.Rung)
					}
					if d.Rung != plan.Rung && s.Action.AtMost != "" && profiles.Above(d.Rung, s.Action.AtMost) {
						t.Errorf("%s: steps to %s, above AtMost %s", name, d.Rung, s.Action.AtMost)
					}
					if allows != nil && d.Rung == profiles.TP {
						t.Errorf("%s: plans TP, which is ruled out", name)
					}
					next := apply(plan, d)
					if k := attemptKey(next); seen[k] {
						t.Fatalf("%s: the same attempt runs twice: %s (decision %+v)", name, k, d)
					} else {
						seen[k] = true
					}
					plan = next
				}
			}
		}
	}
}

// TestNextRemedyAlreadyApplied is the bug of issue #12: a plan that
// already carries the remedy (the rule R-USERNS-KUBELET sets the gate the
// signature asks for) must step down, not run the same rung again.
func TestNextRemedyAlreadyApplied(t *testing.T) {
	for i := range Table() {
		s := &Table()[i]
		if s.Action.Kind != Remedy {
			continue
		}
		for _, r := range []profiles.Rung{profiles.T0, profiles.T1, profiles.T2} {
			plan := &adapters.Plan{Rung: r, Settings: s.Action.Settings, Shims: s.Action.Shims}
			d := Next(plan, &s.Action, nil)
			if d.Rung == r || len(d.Settings)+len(d.Shims) > 0 {
				t.Errorf("%s at %s with its remedy in place: %+v, want a step down", s.Code, r, d)
			}
		}
	}
	gate := Lookup("SIG-SYSCTL-USERNS")
	plan := &adapters.Plan{Rung: profiles.T1, Settings: []adapters.Setting{
		{Component: adapters.Kubelet, Name: "feature-gates", Value: "KubeletInUserNamespace=true", Reason: "R-USERNS-KUBELET"}}}
	if d := Next(plan, &gate.Action, nil); d.Rung != profiles.TP {
		t.Errorf("the userns gate from the rules: %+v, want TP", d)
	}
	if d := Next(plan, &gate.Action, noTP); d.Rung != profiles.T3 {
		t.Errorf("the userns gate without process pods: %+v, want T3", d)
	}
}

// TestNextUnknownFailure: an unknown failure ends the ladder, except at
// TP, where the control plane alone may still run.
func TestNextUnknownFailure(t *testing.T) {
	for _, r := range running {
		d := Next(&adapters.Plan{Rung: r}, nil, nil)
		want := profiles.T4
		if r == profiles.TP {
			want = profiles.T3
		}
		if !d.Stop || d.Rung != want {
			t.Errorf("unknown failure at %s: %+v, want %s", r, d, want)
		}
	}
	if d := Next(nil, nil, nil); d.Retries() {
		t.Errorf("unknown failure without a plan retries: %+v", d)
	}
}

// upstreamClusterSettings are the Cluster settings adapters/upstream reads
// where a kubelet runs (its Render: containerd's snapshotter, whether
// kube-proxy and kube-network-policies start); every other Cluster
// setting is a k3s flag.
var upstreamClusterSettings = map[string]bool{"snapshotter": true, "disable-kube-proxy": true, "disable-network-policy": true}

// TestRemediesFitTheEngine (issue #16) walks every signature's remedy
// for both engines at every rung: k3s is offered the remedy as written; a
// kubernetes engine's plan is offered only settings that engine reads,
// never a k3s flag (SIG-VXLAN's flannel-backend=host-gw), and what is not
// offered is named in the decision's Why; a remedy with nothing left to
// offer steps down, saying why.
func TestRemediesFitTheEngine(t *testing.T) {
	n := 0
	for i := range Table() {
		s := &Table()[i]
		if s.Action.Kind != Remedy {
			continue
		}
		for _, engine := range []string{adapters.EngineK3s, adapters.EngineKubernetes} {
			for _, r := range running {
				plan := &adapters.Plan{Engine: engine, Rung: r}
				d := Next(plan, &s.Action, nil)
				name := fmt.Sprintf("%s/%s/%s", s.Code, engine, r)
				offered := map[string]bool{}
				for _, st := range d.Settings {
					offered[string(st.Component)+"/"+st.Name] = true
					if engine == adapters.EngineKubernetes && st.Component == adapters.Cluster &&
						(!upstreamClusterSettings[st.Name] || !plan.Worker() && st.Name != "disable-network-policy") {
						t.Errorf("%s: offers %s, which the kubernetes engine does not read here", name, st)
					}
				}
				for _, st := range s.Action.Settings {
					n++
					switch {
					case offered[string(st.Component)+"/"+st.Name]:
					case engine == adapters.EngineK3s:
						t.Errorf("%s: k3s is not offered %s", name, st)
					case !strings.Contains(d.Why, st.Name):
						t.Errorf("%s: %s is not offered and the decision does not say why: %+v", name, st, d)
					}
				}
				if d.Rung == r && len(d.Settings)+len(d.Shims) == 0 {
					t.Errorf("%s: retries the same rung with nothing new: %+v", name, d)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no remedy settings found: the walk is broken")
	}
	vxlan := Lookup("SIG-VXLAN")
	if d := Next(&adapters.Plan{Engine: adapters.EngineKubernetes, Rung: profiles.T0}, &vxlan.Action, nil); d.Rung != profiles.T2 || len(d.Settings) > 0 || !strings.Contains(d.Why, "runs no flannel") {
		t.Errorf("SIG-VXLAN in a kubernetes engine's plan: %+v, want a step down to T2 saying it runs no flannel", d)
	}
	if d := Next(&adapters.Plan{Engine: adapters.EngineK3s, Rung: profiles.T0}, &vxlan.Action, nil); d.Rung != profiles.T0 || len(d.Settings) != 1 || d.Settings[0].Name != "flannel-backend" || d.Why != "" {
		t.Errorf("SIG-VXLAN in a k3s plan: %+v, want flannel-backend=host-gw at T0", d)
	}
}
