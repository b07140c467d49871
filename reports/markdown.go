package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/kprobe/kprobe/profiles"
)

// WriteMarkdown renders the report as one Markdown document for an issue,
// a pull request or a wiki: the verdict on the ladder, the blockers with
// their fixes, the warnings, the closest known sandbox, the plan, the
// launch attempts and the verification when there are any, and every fact
// grouped by domain.
func WriteMarkdown(w io.Writer, r *Report) error {
	v := newView(r)
	var b strings.Builder
	fmt.Fprintf(&b, "# kprobe report: %s\n\n", mdText(v.Title))
	fmt.Fprintf(&b, "%s.\n\n", mdText(strings.Join(v.Meta, " · ")))

	fmt.Fprintf(&b, "## Verdict: %s\n\n%s.", mdText(string(r.Verdict.Rung)), mdText(r.Verdict.Title))
	if v.Launched != "" {
		fmt.Fprintf(&b, " The %s.", mdText(v.Launched))
	}
	b.WriteString("\n\n| rung | state | what it gives | what rules it out |\n|---|---|---|---|\n")
	for _, l := range v.Ladder {
		state := mdText(l.State)
		if l.Launch != "" {
			state += ", launch " + mdText(l.Launch)
		}
		if l.State == "verdict" {
			state = "**" + state + "**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdText(string(l.Rung)), state, mdText(l.Title), mdUnmet(l))
	}
	for _, l := range v.Ladder {
		if len(l.Unverified) > 0 {
			fmt.Fprintf(&b, "\n%s is unverified, the facts do not say: %s.\n", l.Rung, mdText(joinUnmet(l.Unverified)))
		}
	}

	fmt.Fprintf(&b, "\n## Blockers (%d)\n\n", len(v.Blockers))
	if len(v.Blockers) == 0 {
		b.WriteString("None: nothing blocks a rung of the ladder.\n")
	} else {
		mdFindings(&b, v.Blockers)
	}
	if len(v.Warnings) > 0 {
		fmt.Fprintf(&b, "\n## Warnings (%d)\n\n", len(v.Warnings))
		mdFindings(&b, v.Warnings)
	}

	b.WriteString("\n## Capabilities\n\n| capability | |\n|---|---|\n")
	for _, c := range v.Caps {
		fmt.Fprintf(&b, "| %s | %s |\n", mdText(c.Name), c.Value)
	}

	if m := r.Profile; m != nil {
		b.WriteString("\n## Closest known sandbox\n\n")
		if m.Matched {
			fmt.Fprintf(&b, "`builtin:%s`, score %.2f.", mdCode(m.Name), m.Score)
			if m.Verdict.Rung != r.Verdict.Rung {
				fmt.Fprintf(&b, " With it the verdict is %s (the scan alone says %s).", mdText(string(m.Verdict.Rung)), mdText(string(r.Verdict.Rung)))
			}
			if len(m.Filled) > 0 {
				fmt.Fprintf(&b, " Taken from it because the scan did not observe them: %s.", mdText(strings.Join(m.Filled, ", ")))
			}
		} else {
			fmt.Fprintf(&b, "None is close enough: the nearest, `builtin:%s`, scores %.2f (below %.2f); plans use the scan alone.", mdCode(m.Name), m.Score, profiles.MinMatchScore)
		}
		b.WriteString("\n")
		for _, why := range m.Why {
			fmt.Fprintf(&b, "\n- %s", mdText(why))
		}
		if len(m.Why) > 0 {
			b.WriteString("\n")
		}
	}

	if p := r.Plan; p != nil {
		what := "what `kprobe launch` would do"
		if r.Launch != nil {
			what = "what the last launch did"
		}
		engine := p.Engine
		if engine == "" {
			engine = "decided at launch"
		}
		fmt.Fprintf(&b, "\n## Plan (%s)\n\nEngine %s, rung %s, runtime %s", what, mdText(engine), mdText(string(p.Rung)), mdText(p.Runtime))
		if p.DataDir != "" {
			fmt.Fprintf(&b, ", data dir `%s`", mdCode(p.DataDir))
		}
		b.WriteString(".\n\n")
		if len(p.Settings) == 0 {
			b.WriteString("No settings: the engine's defaults fit this sandbox.\n")
		} else {
			b.WriteString("| component | setting | reason | why |\n|---|---|---|---|\n")
			for _, s := range p.Settings {
				fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", mdText(string(s.Component)), mdCode(s.Name+"="+s.Value), mdText(string(s.Reason)), mdText(s.Rationale))
			}
		}
		if len(p.Shims) > 0 {
			b.WriteString("\n| shim | reason | why |\n|---|---|---|\n")
			for _, s := range p.Shims {
				fmt.Fprintf(&b, "| %s | %s | %s |\n", mdText(s.Name), mdText(string(s.Reason)), mdText(s.Rationale))
			}
		}
	}

	if len(v.Attempts) > 0 {
		fmt.Fprintf(&b, "\n## Launch attempts (%d)\n\n| # | rung | outcome | took | remedies | ended by | fix |\n|---|---|---|---|---|---|---|\n", len(v.Attempts))
		for _, a := range v.Attempts {
			ended := ""
			switch {
			case a.Code != "":
				ended = fmt.Sprintf("`%s` %s log: `%s`", mdCode(string(a.Code)), mdText(a.Component), mdCode(a.Line))
			case a.Error != "":
				ended = mdText(a.Error)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", a.N, mdText(string(a.Rung)), mdText(a.Outcome), mdText(a.Took), mdText(a.Remedies), ended, fixCell(a.Fix))
		}
	}
	if len(v.Phases) > 0 {
		b.WriteString("\n| phase | done | at | took | detail |\n|---|---|---|---|---|\n")
		for _, p := range v.Phases {
			fmt.Fprintf(&b, "| %s | %s | %.2f s | %.2f s | %s |\n", mdText(p.Name), yesNo(p.Done), p.AtMS/1000, p.TookMS/1000, mdText(p.Detail))
		}
	}
	if vr := r.Verification; vr != nil {
		fmt.Fprintf(&b, "\n## Verification: %s\n\n| check | outcome | criterion | evidence |\n|---|---|---|---|\n", passFail(vr.Passed))
		for _, c := range vr.Checks {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdText(c.Name), mdText(string(c.Outcome)), mdText(c.Criterion), mdText(c.Evidence))
		}
	}

	if s := r.Soak; s != nil {
		fmt.Fprintf(&b, "\n## Soak: %s\n\n%.0f s sampled every %.0f s (%d samples, in the JSON report).\n\n| criterion | outcome | detail |\n|---|---|---|\n",
			passFail(s.Verdict.OK), s.ElapsedS, s.IntervalS, len(s.Samples))
		for _, c := range s.Verdict.Criteria {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mdText(c.Name), mdText(string(c.Outcome)), mdText(c.Detail))
		}
	}

	b.WriteString("\n## Facts by domain\n")
	for _, d := range v.Domains {
		fmt.Fprintf(&b, "\n### %s (%s)\n\n| probe | status | summary |\n|---|---|---|\n", mdText(d.Name), mdText(d.Counts))
		for _, res := range d.Results {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", mdCode(res.ID), mdText(string(res.Status)), mdText(OneLine(res)))
		}
		if len(d.Facts) > 0 {
			b.WriteString("\n| fact | value |\n|---|---|\n")
			for _, f := range d.Facts {
				fmt.Fprintf(&b, "| `%s` | %s |\n", mdCode(f.Key), mdText(f.Value))
			}
		}
	}
	_, err := io.WriteString(w, terminalSafe(b.String(), false))
	return err
}

func mdFindings(b *strings.Builder, fs []findingRow) {
	b.WriteString("| code | finding | evidence | fix |\n|---|---|---|---|\n")
	for _, f := range fs {
		summary := mdText(f.Summary)
		switch {
		case f.Own:
			summary += " (kprobe's own cluster: not a blocker)"
		case f.Ignored:
			summary += " (blocker ignored by --ignore)"
		}
		ev := ""
		if s := f.Evidence.String(); s != "" {
			ev = "`" + mdCode(s) + "`"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", mdCode(string(f.Code)), summary, ev, fixCell(f.Fix))
	}
}

func mdUnmet(l ladderRow) string {
	if l.State != "blocked" {
		return ""
	}
	if len(l.New) == 0 {
		return "what rules out the rung below"
	}
	var parts []string
	for _, u := range l.New {
		s := mdText(u.Requirement)
		if u.Detail != "" {
			s += " (`" + mdCode(u.Detail) + "`)"
		}
		if u.Fix != "" {
			s += ": " + mdText(u.Fix)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "<br>")
}

// mdText makes s safe in a Markdown table cell and as inline text: pipes
// escaped, lines joined, and angle brackets escaped so that "<data-dir>"
// stays text.
func mdText(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", `\<`, ">", `\>`, "*", `\*`, "`", "'").Replace(s)
}

// mdCode makes s safe inside a code span in a table cell.
func mdCode(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func passFail(b bool) string {
	if b {
		return "passed"
	}
	return "failed"
}
