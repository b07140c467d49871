package signatures

import (
	"strings"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

// Decision is the ladder's next step after an attempt failed (or a
// signature fired during one).
type Decision struct {
	// Stop ends the attempt; false only for Advisory signatures.
	Stop bool
	// Rung is where the next attempt runs; T4 means no further attempt.
	Rung profiles.Rung
	// Settings and Shims are what to add to the plan before it: a remedy
	// not yet in the plan. Empty when the rung changes.
	Settings []adapters.Setting
	Shims    []adapters.Shim
	// Why says which settings of the remedy the plan's engine does not
	// have (adapters.Plan.InVocabulary), so were not offered.
	Why string
}

// Retries reports whether another attempt runs.
func (d Decision) Retries() bool { return d.Stop && d.Rung != profiles.T4 }

// Next is the ladder's one decision, used by the launcher and by the
// tests: what runs after an attempt of plan (nil: T0 with nothing set)
// ended with a, the action of the signature that fired (nil when no known
// signature explains the failure). allows says which rungs the ladder may
// run (launch --process-pods=false and the k3s engine rule out TP); nil
// allows every rung.
//
// A Remedy whose settings and shims are all in the plan already did not
// help, so the ladder steps down instead: the same attempt never runs
// twice. Settings of a remedy that the plan's engine does not have (k3s's
// flannel-backend in a kubernetes engine's plan) are not offered, and
// Decision.Why says so. Worker failures step down to TP (process pods
// need no kubelet, containerd or runc), or to T3 where TP is not allowed. An unknown
// failure at TP steps down to T3, since the control plane may still run;
// elsewhere it ends the ladder, as does a Fatal signature.
func Next(plan *adapters.Plan, a *Action, allows func(profiles.Rung) bool) Decision {
	cur := profiles.T0
	if plan != nil && plan.Rung != "" {
		cur = plan.Rung
	}
	if a == nil {
		if cur == profiles.TP {
			return Decision{Stop: true, Rung: nextRung(cur, "", allows)}
		}
		return Decision{Stop: true, Rung: profiles.T4}
	}
	switch a.Kind {
	case Advisory:
		return Decision{Rung: cur}
	case Fatal:
		return Decision{Stop: true, Rung: profiles.T4}
	case Remedy:
		var d Decision
		var withheld []string
		for _, st := range a.Settings {
			if plan != nil {
				var why string
				if st, why = plan.InVocabulary(st); why != "" {
					withheld = append(withheld, why)
					continue
				}
			}
			if !hasSetting(plan, st) {
				d.Settings = append(d.Settings, st)
			}
		}
		for _, sh := range a.Shims {
			if !hasShim(plan, sh.Name) {
				d.Shims = append(d.Shims, sh)
			}
		}
		if len(withheld) > 0 {
			d.Why = "not offered to the " + plan.Engine + " engine: " + strings.Join(withheld, "; ")
		}
		if len(d.Settings)+len(d.Shims) > 0 {
			d.Stop, d.Rung = true, cur
			return d
		}
		return Decision{Stop: true, Rung: nextRung(cur, a.AtMost, allows), Why: d.Why}
	}
	return Decision{Stop: true, Rung: nextRung(cur, a.AtMost, allows)}
}

// nextRung is the rung after a step down from cur: one lower, or atMost
// when that is lower, skipping the rungs allows refuses; T4 when none is
// left.
func nextRung(cur, atMost profiles.Rung, allows func(profiles.Rung) bool) profiles.Rung {
	next := profiles.Index(cur) + 1
	if atMost != "" && profiles.Index(atMost) > next {
		next = profiles.Index(atMost)
	}
	for ; next < profiles.Index(profiles.T4); next++ {
		if r := profiles.Rungs[next]; allows == nil || allows(r) {
			return r
		}
	}
	return profiles.T4
}
