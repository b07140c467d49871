package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// TextOptions tune the terminal rendering.
type TextOptions struct {
	// Color enables ANSI colour; set it only for a terminal without NO_COLOR.
	Color bool
	// Verbose prints every line of evidence and every fact.
	Verbose bool
}

type palette struct{ on bool }

func (p palette) wrap(code, s string) string {
	if !p.on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}
func (p palette) bold(s string) string  { return p.wrap("1", s) }
func (p palette) dim(s string) string   { return p.wrap("2", s) }
func (p palette) red(s string) string   { return p.wrap("31", s) }
func (p palette) green(s string) string { return p.wrap("32", s) }
func (p palette) yellow(s string) string {
	return p.wrap("33", s)
}

func (p palette) status(s probes.Status) string {
	label := fmt.Sprintf("%-7s", s)
	switch s {
	case probes.StatusOK:
		return p.green(label)
	case probes.StatusWarn:
		return p.yellow(label)
	case probes.StatusBlock:
		return p.red(label)
	}
	return p.dim(label)
}

// WriteText renders the report for a terminal: probes grouped by domain
// with their status and one line of evidence, the blockers with their
// fixes, the warnings, and the ladder verdict.
func WriteText(w io.Writer, r *Report, o TextOptions) error {
	p := palette{on: o.Color}
	var b strings.Builder
	id := r.Identity.Sandbox
	if r.Identity.VM != "" && r.Identity.VM != "none" && r.Identity.VM != "unknown" {
		id += " (" + r.Identity.VM + ")"
	}
	if r.Identity.Confidence != "" {
		id += ", " + r.Identity.Confidence + " confidence"
	}
	fmt.Fprintf(&b, "%s %s — %d probes in %.0f ms", p.bold("kprobe scan:"), id, len(r.Results), r.DurationMS)
	if r.Source != "" && r.Source != "live" {
		fmt.Fprintf(&b, " (replayed from %s)", r.Source)
	}
	b.WriteString("\n")

	byDomain := map[probes.Domain][]probes.Result{}
	for _, res := range r.Results {
		byDomain[res.Domain] = append(byDomain[res.Domain], res)
	}
	for _, d := range probes.DomainOrder {
		rs := byDomain[d]
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s\n", p.bold(string(d)))
		for _, res := range rs {
			fmt.Fprintf(&b, "  %s %-18s %s\n", p.status(res.Status), res.ID, OneLine(res))
			if o.Verbose {
				for _, e := range res.Evidence {
					fmt.Fprintf(&b, "  %s %s\n", strings.Repeat(" ", 26), p.dim(e.String()))
				}
				for _, k := range res.Facts.Keys() {
					fmt.Fprintf(&b, "  %s %s = %s\n", strings.Repeat(" ", 26), k, probes.Format(res.Facts[k]))
				}
			}
		}
	}

	blockers, warns := findings(r.Results)
	if len(blockers) > 0 {
		fmt.Fprintf(&b, "\n%s\n", p.red(p.bold(fmt.Sprintf("blockers (%d)", len(blockers)))))
		for _, f := range blockers {
			writeFinding(&b, p, f, p.red("✗"))
		}
	}
	if len(warns) > 0 {
		fmt.Fprintf(&b, "\n%s\n", p.yellow(p.bold(fmt.Sprintf("warnings (%d)", len(warns)))))
		for _, f := range warns {
			writeFinding(&b, p, f, p.yellow("!"))
		}
	}
	writeVerdict(&b, p, r.Verdict)
	writeOutcome(&b, p, r)
	_, err := io.WriteString(w, terminalSafe(b.String(), o.Color))
	return err
}

// writeOutcome adds what a scan alone lacks, when the report has it: the
// closest built-in profile, the plan, the launch attempts and the
// verification.
func writeOutcome(b *strings.Builder, p palette, r *Report) {
	if m := r.Profile; m != nil {
		if m.Matched {
			fmt.Fprintf(b, "\n%s builtin:%s (score %.2f)", p.bold("closest known sandbox:"), m.Name, m.Score)
			if m.Verdict.Rung != r.Verdict.Rung {
				fmt.Fprintf(b, "; verdict with it %s", m.Verdict.Rung)
			}
			b.WriteString("\n")
		} else {
			fmt.Fprintf(b, "\n%s none close enough (nearest builtin:%s at %.2f)\n", p.bold("closest known sandbox:"), m.Name, m.Score)
		}
	}
	if pl := r.Plan; pl != nil {
		engine := pl.Engine
		if engine == "" {
			engine = "engine decided at launch"
		}
		what := "'kprobe plan' shows it in full"
		if r.Launch != nil {
			what = "the last launch ran it"
		}
		fmt.Fprintf(b, "%s %s (%s), %s, %s, runtime %s; %s\n", p.bold("plan:"), pl.Rung, engine,
			plural(len(pl.Settings), "setting"), plural(len(pl.Shims), "shim"), pl.Runtime, what)
	}
	if len(r.Attempts) > 0 {
		fmt.Fprintf(b, "\n%s\n", p.bold(fmt.Sprintf("launch attempts (%d)", len(r.Attempts))))
		for _, a := range newView(r).Attempts {
			mark := p.red("✗")
			if a.Outcome == "ready" {
				mark = p.green("✓")
			}
			fmt.Fprintf(b, "  %s %d %s %s", mark, a.N, a.Rung, a.Outcome)
			if a.Took != "" {
				fmt.Fprintf(b, " after %s", a.Took)
			}
			if a.Remedies != "" {
				fmt.Fprintf(b, " (remedies: %s)", a.Remedies)
			}
			b.WriteString("\n")
			switch {
			case a.Code != "":
				fmt.Fprintf(b, "      %s %s log: %s\n", p.bold(a.Code), a.Component, p.dim(a.Line))
				if a.Fix != "" {
					fmt.Fprintf(b, "      fix: %s\n", a.Fix)
				}
			case a.Error != "":
				fmt.Fprintf(b, "      %s\n", a.Error)
			}
		}
	} else if r.Launch != nil {
		state := "not ready"
		if r.Launch.Ready {
			state = "ready"
		}
		fmt.Fprintf(b, "%s %s at %s, %s\n", p.bold("launch:"), r.Launch.Engine, r.Launch.Rung, state)
	}
	if v := r.Verification; v != nil {
		fmt.Fprintf(b, "\n%s %s\n", p.bold("verification:"), passFail(v.Passed))
		for _, c := range v.Checks {
			fmt.Fprintf(b, "  %-7s %-14s %s\n", c.Outcome, c.Name, firstLine(c.Evidence))
		}
	}
	if s := r.Soak; s != nil {
		fmt.Fprintf(b, "\n%s %s over %.0f s, %d samples\n", p.bold("soak:"), passFail(s.Verdict.OK), s.ElapsedS, len(s.Samples))
		for _, c := range s.Verdict.Criteria {
			fmt.Fprintf(b, "  %-7s %-14s %s\n", c.Outcome, c.Name, firstLine(c.Detail))
		}
	}
}

func sortFindings(fs []probes.Finding) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Code < fs[j].Code })
}

func writeFinding(b *strings.Builder, p palette, f probes.Finding, mark string) {
	ign := ""
	switch {
	case f.Own:
		ign = p.dim(" (kprobe's own cluster: not a blocker)")
	case f.Ignored:
		ign = p.dim(" (blocker ignored by --ignore)")
	}
	fmt.Fprintf(b, "  %s %s %s%s\n", mark, p.bold(f.Code), f.Summary, ign)
	if ev := f.Evidence.String(); ev != "" {
		fmt.Fprintf(b, "      evidence: %s\n", p.dim(ev))
	}
	if f.Fix != "" {
		fmt.Fprintf(b, "      fix: %s\n", f.Fix)
	}
}

func writeVerdict(b *strings.Builder, p palette, v profiles.Verdict) {
	fmt.Fprintf(b, "\n%s %s — %s\n", p.bold("verdict:"), p.bold(string(v.Rung)), v.Title)
	for _, c := range v.Checks {
		if c.Possible {
			if c.Rung == v.Rung && len(c.Unverified) > 0 {
				fmt.Fprintf(b, "  %s unverified: %s\n", c.Rung, joinUnmet(c.Unverified))
			}
			continue
		}
		if profilesRungAbove(c.Rung, v.Rung) && len(c.Blockers) == 0 {
			// Not claimed on evidence alone (scan --passive).
			fmt.Fprintf(b, "  %s %s not verified: %s\n", p.yellow("?"), c.Rung, joinUnmet(c.Unverified))
			continue
		}
		if profilesRungAbove(c.Rung, v.Rung) {
			fmt.Fprintf(b, "  %s %s blocked by:\n", p.red("✗"), c.Rung)
			for _, u := range c.Blockers {
				fmt.Fprintf(b, "      %s (%s)\n", u.Requirement, u.Detail)
				if u.Fix != "" {
					fmt.Fprintf(b, "        fix: %s\n", u.Fix)
				}
			}
		}
	}
}

func profilesRungAbove(r, than profiles.Rung) bool { return r < than }

func joinUnmet(us []profiles.Unmet) string {
	names := make([]string, len(us))
	for i, u := range us {
		names[i] = u.Requirement
	}
	return strings.Join(names, "; ")
}

// OneLine is the single line shown next to a probe (here and in the
// TUI): its summary, else its first warning or blocker, its first
// evidence or its first facts.
func OneLine(r probes.Result) string {
	switch {
	case r.Status == probes.StatusSkipped && r.Error != "":
		return "skipped: " + r.Error
	case r.Error != "":
		return "could not observe: " + firstLine(r.Error)
	case r.Summary != "":
		return r.Summary
	}
	for _, f := range r.Findings {
		if f.Severity == probes.Block || f.Severity == probes.Warn {
			return f.Summary
		}
	}
	if len(r.Evidence) > 0 {
		return r.Evidence[0].String()
	}
	var parts []string
	for _, k := range r.Facts.Keys() {
		parts = append(parts, k+"="+probes.Format(r.Facts[k]))
		if len(parts) == 3 {
			break
		}
	}
	return strings.Join(parts, " ")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
