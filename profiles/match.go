package profiles

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/kprobe/kprobe/probes"
)

// MatchKey is one identifying fact of the matcher: a fact a built-in
// profile may record to say "a sandbox like me shows this".
type MatchKey struct {
	Key string
	// Weight is how much agreeing on this fact counts.
	Weight float64
	// Same lists groups of values that count as equal: the identity probe
	// says "vm" or "host" for the same kind of machine, and "container"
	// for a Docker-like runtime it cannot name.
	Same [][]string
	// Absent is the weight a profile that does not record this fact
	// loses when the scan knows it: a generic profile (rootless-userns
	// says nothing about what runs it) must not beat one that names the
	// sandbox and agrees on the rest.
	Absent float64
	// Wrong is the extra weight a profile loses when it records this fact
	// and the scan contradicts it: naming the wrong sandbox is worse than
	// naming none.
	Wrong float64
}

// MatchKeys are the identifying facts and their weights, heaviest first.
// A built-in profile is compared with a scan on the keys of this table
// that its [facts] record; its other facts are what is known about it,
// not how to recognise it.
var MatchKeys = []MatchKey{
	{Key: "priv.userns", Weight: 8},            // rootful or rootless decides most of a plan
	{Key: "identity.ide", Weight: 6, Wrong: 6}, // codespaces, gitpod
	{Key: "kernel.emulated", Weight: 5},        // gVisor's Sentry
	{Key: "fs.root.type", Weight: 5},           // 9p, overlay, tmpfs, ext4: tells gVisor's flavours apart
	{Key: "identity.sandbox", Weight: 4, Absent: 4, Wrong: 4, Same: [][]string{{"vm", "host"}, {"docker", "container"}}},
	{Key: "priv.cap_sys_admin", Weight: 2},
	{Key: "cgroups.layout", Weight: 1.5},
	{Key: "dev.kmsg", Weight: 1.5},
	{Key: "cgroups.writable", Weight: 1},
	{Key: "container.best", Weight: 1},
	{Key: "ns.user", Weight: 1},
}

// MinMatchScore is the score below which no built-in profile is close
// enough to stand in for what a scan could not see.
const MinMatchScore = 0.6

// Candidate is one built-in profile scored against a scan.
type Candidate struct {
	Profile *Profile `json:"-"`
	Name    string   `json:"name"`
	// Score is the share of the profile's identifying weight that the
	// scan agrees with, 0..1 (MatchKey.Absent and Wrong add to the weight
	// a profile is measured against).
	Score float64 `json:"score"`
	// Matched is the weight of the agreeing facts.
	Matched float64 `json:"matched"`
	// Agree, Differ and Unknown are the identifying keys the scan agrees
	// with, contradicts, or could not observe, heaviest first.
	Agree   []string `json:"agree,omitempty"`
	Differ  []string `json:"differ,omitempty"`
	Unknown []string `json:"unknown,omitempty"`
	// Why says it in plain words, one item per key, heaviest first.
	Why []string `json:"why"`
}

// Rank scores every profile against facts, best first. Ties go to the
// profile with more agreeing evidence, then to the name.
func Rank(facts probes.Facts, builtins []*Profile) []Candidate {
	out := make([]Candidate, 0, len(builtins))
	for _, b := range builtins {
		out = append(out, score(facts, b))
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Matched, a.Matched); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

func score(facts probes.Facts, b *Profile) Candidate {
	c := Candidate{Profile: b, Name: b.Name}
	total := 0.0
	for _, mk := range MatchKeys {
		want, recorded := b.Facts[mk.Key]
		got, seen := facts[mk.Key]
		seen = seen && Known(got)
		if !recorded || !Known(want) {
			if seen && mk.Absent > 0 {
				total += mk.Absent
				c.Why = append(c.Why, fmt.Sprintf("%s=%s here, %s does not say", mk.Key, probes.Format(got), b.Name))
			}
			continue
		}
		total += mk.Weight
		switch {
		case !seen:
			c.Unknown = append(c.Unknown, mk.Key)
			c.Why = append(c.Why, fmt.Sprintf("%s unknown here (%s: %s)", mk.Key, b.Name, probes.Format(want)))
		case mk.same(got, want):
			c.Matched += mk.Weight
			c.Agree = append(c.Agree, mk.Key)
			c.Why = append(c.Why, fmt.Sprintf("%s=%s matches", mk.Key, probes.Format(got)))
		default:
			total += mk.Wrong
			c.Differ = append(c.Differ, mk.Key)
			c.Why = append(c.Why, fmt.Sprintf("%s is %s here, %s in %s", mk.Key, probes.Format(got), probes.Format(want), b.Name))
		}
	}
	if total > 0 {
		c.Score = c.Matched / total
	}
	return c
}

func (mk MatchKey) same(a, b any) bool {
	x, y := probes.Format(a), probes.Format(b)
	if x == y {
		return true
	}
	for _, g := range mk.Same {
		if slices.Contains(g, x) && slices.Contains(g, y) {
			return true
		}
	}
	return false
}

// Known reports whether a fact value says something: not an unknown
// tri-state, not "" or "unknown". An empty list is a measurement.
func Known(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case probes.Tri:
		return x != probes.Unknown
	case string:
		return x != "" && x != "unknown"
	}
	return true
}

// Match picks the built-in profile closest to facts. best is nil when no
// built-in profile reaches MinMatchScore; why then explains the closest
// one anyway.
func Match(facts probes.Facts) (best *Profile, score float64, why []string) {
	bs, err := Builtins()
	if err != nil {
		return nil, 0, []string{err.Error()}
	}
	ranked := Rank(facts, bs)
	if len(ranked) == 0 {
		return nil, 0, []string{"no built-in profiles"}
	}
	top := ranked[0]
	if top.Score < MinMatchScore {
		return nil, top.Score, top.Why
	}
	return top.Profile, top.Score, top.Why
}

// Closest is a fresh scan matched to the built-in profiles.
type Closest struct {
	// Ranked is every built-in profile scored against the scan, best
	// first; empty when there are none.
	Ranked []Candidate
	// Matched says that Ranked[0] reaches MinMatchScore and stands in for
	// what the scan could not see.
	Matched bool
	// Profile is what plans are made for: the closest built-in profile
	// with the scan's facts on top when Matched, else the scan alone.
	Profile *Profile
	// Overridden and Filled are Overlay's: the built-in facts the scan
	// contradicted, and those taken from the built-in profile.
	Overridden, Filled []string
}

// MatchClosest matches a fresh scan's profile to builtins: what `plan`,
// `launch` and `report` do with --profile auto.
func MatchClosest(fresh *Profile, builtins []*Profile) Closest {
	c := Closest{Ranked: Rank(fresh.Facts, builtins), Profile: fresh}
	if len(c.Ranked) > 0 && c.Ranked[0].Score >= MinMatchScore {
		c.Matched = true
		c.Profile, c.Overridden, c.Filled = Overlay(c.Ranked[0].Profile, fresh)
	}
	return c
}

// Overlay returns the built-in profile's facts with the fresh scan's facts
// on top: a fresh fact that says something overrides the built-in one
// wherever they differ, and the built-in profile fills in only what the
// scan could not observe. The identity and findings are the scan's; the
// capabilities and verdict are derived again from the merged facts.
// overridden lists the built-in facts the scan contradicted, filled the
// ones taken from the built-in profile because the scan did not know them.
func Overlay(builtin, fresh *Profile) (p *Profile, overridden, filled []string) {
	p = fresh.Clone()
	merged := cloneFacts(builtin.Facts)
	if merged == nil {
		merged = probes.Facts{}
	}
	for k, v := range fresh.Facts {
		want, inBuiltin := builtin.Facts[k]
		if !Known(v) && inBuiltin && Known(want) {
			continue // the built-in profile knows better than "unknown"
		}
		if inBuiltin && Known(want) && probes.Format(v) != probes.Format(want) {
			overridden = append(overridden, k)
		}
		if l, ok := v.([]string); ok {
			v = slices.Clone(l)
		}
		merged[k] = v
	}
	for k, v := range builtin.Facts {
		if got, ok := fresh.Facts[k]; Known(v) && (!ok || !Known(got)) {
			filled = append(filled, k)
		}
	}
	slices.Sort(overridden)
	slices.Sort(filled)
	p.Name = builtin.Name
	p.Description = fmt.Sprintf("built-in profile %s overlaid with a fresh scan: %d facts of the scan override it, %d come from it",
		builtin.Name, len(overridden), len(filled))
	if p.Identity.Sandbox == "" || p.Identity.Sandbox == "unknown" {
		p.Identity = builtin.Identity
		p.Identity.Markers = slices.Clone(builtin.Identity.Markers)
	}
	p.Facts = merged
	p.Capabilities = Derive(merged)
	p.Verdict = Judge(merged)
	return p, overridden, filled
}
