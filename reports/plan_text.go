package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

// PlanText says where a plan's profile came from, for WritePlanText.
type PlanText struct {
	// Profile names the profile planned for ("builtin:gvisor-9p",
	// "sandbox.toml", "a fresh scan overlaid on gvisor-9p").
	Profile string
	// Description is the profile's description; its first line is shown.
	Description string
}

// WritePlanText explains a plan: the engine, the ladder rung, every
// setting with the code of the rule that chose it, the shims and runtime,
// each rule's rationale and source, and what rules out the rungs above.
func WritePlanText(w io.Writer, plan *adapters.Plan, src PlanText, o TextOptions) error {
	p := palette{on: o.Color}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", p.bold("kprobe plan for"), src.Profile)
	if d, _, _ := strings.Cut(src.Description, "\n"); d != "" {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	engine := plan.Engine
	if engine == "" {
		engine = "(decided at launch)"
	}
	fmt.Fprintf(&b, "\n  %-9s %s\n", "engine", engine)
	fmt.Fprintf(&b, "  %-9s %s — %s\n", "rung", p.bold(string(plan.Rung)), plan.RungTitle())
	if g := profiles.GivesUp[plan.Rung]; g != "" {
		fmt.Fprintf(&b, "  %-9s %s\n", "gives up", g)
	}
	if plan.DataDir != "" {
		fmt.Fprintf(&b, "  %-9s %s\n", "data dir", plan.DataDir)
	}
	fmt.Fprintf(&b, "  %-9s %s\n", "runtime", plan.Runtime)

	// Each rule's rationale and source is printed once, in the order its
	// code first appears.
	var codes []string
	why := map[string][2]string{}
	note := func(code, rationale, source string) {
		if _, ok := why[code]; !ok {
			codes = append(codes, code)
			why[code] = [2]string{rationale, source}
		}
	}
	fmt.Fprintf(&b, "\n%s\n", p.bold(fmt.Sprintf("settings (%d)", len(plan.Settings))))
	if len(plan.Settings) == 0 {
		b.WriteString("  none: the engine's defaults fit this sandbox\n")
	}
	cw, width := 0, 0
	for _, s := range plan.Settings {
		cw = max(cw, len(s.Component))
		width = max(width, len(s.Name)+1+len(s.Value))
	}
	for _, s := range plan.Settings {
		fmt.Fprintf(&b, "  %-*s  %-*s  [%s]\n", cw, s.Component, width, s.Name+"="+s.Value, s.Reason)
		note(s.Reason, s.Rationale, s.Source)
	}
	fmt.Fprintf(&b, "\n%s\n", p.bold(fmt.Sprintf("shims (%d)", len(plan.Shims))))
	if len(plan.Shims) == 0 {
		b.WriteString("  none\n")
	}
	for _, sh := range plan.Shims {
		fmt.Fprintf(&b, "  %s  [%s]\n", sh.Name, sh.Reason)
		note(sh.Reason, sh.Rationale, "")
	}
	if len(codes) > 0 {
		fmt.Fprintf(&b, "\n%s\n", p.bold("reasons"))
		kw := 0
		for _, c := range codes {
			kw = max(kw, len(c))
		}
		for _, c := range codes {
			fmt.Fprintf(&b, "  %s%s  %s\n", p.bold(c), strings.Repeat(" ", kw-len(c)), why[c][0])
			if why[c][1] != "" {
				fmt.Fprintf(&b, "  %s  %s\n", strings.Repeat(" ", kw), p.dim("source: "+why[c][1]))
			}
		}
	}
	writeRungsAbove(&b, p, plan.Verdict, plan.Rung, plan.Engine)
	if len(plan.Notes) > 0 {
		fmt.Fprintf(&b, "\n%s\n", p.bold("notes"))
		for _, n := range plan.Notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, terminalSafe(b.String(), o.Color))
	return err
}

// writeRungsAbove lists, from the rung just above the planned one up to
// T0, what rules each rung out. A requirement is named once, at the
// lowest rung it rules out; rungs above inherit it.
func writeRungsAbove(b *strings.Builder, p palette, v profiles.Verdict, rung profiles.Rung, engine string) {
	byRung := map[profiles.Rung]profiles.RungCheck{}
	for _, c := range v.Checks {
		byRung[c.Rung] = c
	}
	var above []profiles.Rung
	for i := len(profiles.Rungs) - 1; i >= 0; i-- {
		if r := profiles.Rungs[i]; profiles.Above(r, rung) && r != profiles.T4 {
			above = append(above, r)
		}
	}
	fmt.Fprintf(b, "\n%s\n", p.bold("what rules out the rungs above "+string(rung)))
	if len(above) == 0 {
		b.WriteString("  nothing: T0 is the top of the ladder\n")
	}
	seen := map[string]bool{}
	prev := profiles.Rung("")
	for _, r := range above {
		c, ok := byRung[r]
		switch {
		case !ok:
			fmt.Fprintf(b, "  %s %s: not judged (the profile has no check for it)\n", r, adapters.RungTitleFor(engine, r))
		case c.Possible:
			fmt.Fprintf(b, "  %s %s: possible here; the plan was asked for %s\n", p.green("✓"), r, rung)
		default:
			fmt.Fprintf(b, "  %s %s %s\n", p.red("✗"), p.bold(string(r)), adapters.RungTitleFor(engine, r))
			n := 0
			for _, u := range c.Blockers {
				if seen[u.Requirement] {
					continue
				}
				seen[u.Requirement] = true
				n++
				fmt.Fprintf(b, "      %s (%s)\n", u.Requirement, u.Detail)
				if u.Fix != "" {
					fmt.Fprintf(b, "        fix: %s\n", u.Fix)
				}
			}
			if n == 0 && prev != "" {
				fmt.Fprintf(b, "      by what rules out %s\n", prev)
			}
		}
		prev = r
	}
	if c, ok := byRung[rung]; ok && len(c.Unverified) > 0 {
		fmt.Fprintf(b, "  %s %s unverified, the facts do not say: %s\n", p.yellow("?"), rung, joinUnmet(c.Unverified))
	}
}
