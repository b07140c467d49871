package soak

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the short summary of a judged result: the verdict,
// each criterion, the workload's numbers and the first failures. Plain
// text, no colour (the reports package styles).
func WriteText(w io.Writer, r *Result) error {
	var b strings.Builder
	verdict := "STABLE"
	if !r.Verdict.OK {
		verdict = "NOT STABLE"
	}
	rung := ""
	if r.Rung != "" {
		rung = " (" + r.Rung + ")"
	}
	fmt.Fprintf(&b, "soak: %s on the %s engine%s, %d samples every %s: %s\n",
		secs(r.ElapsedS), r.Engine, rung, len(r.Samples), secs(r.IntervalS), verdict)
	for _, c := range r.Verdict.Criteria {
		fmt.Fprintf(&b, "  %-7s %-14s %s\n", c.Outcome, c.Name, c.Detail)
	}
	s := r.Summary
	fmt.Fprintf(&b, "API latency: p50 %.1f ms, p95 %.1f ms, max %.1f ms (%d timed requests)\n",
		s.API.P50MS, s.API.P95MS, s.API.MaxMS, s.API.N)
	for _, p := range r.Workload {
		switch {
		case !p.Ran:
			fmt.Fprintf(&b, "%-16s skipped: %s\n", p.Name+":", p.Skipped)
		case p.Name == "deployment-cycle":
			fmt.Fprintf(&b, "%-16s %d cycles 1→3→1, up p50 %.1f s (max %.1f s), down p50 %.1f s (max %.1f s)\n", p.Name+":",
				s.ScaleCycles, s.ScaleUp.P50MS/1000, s.ScaleUp.MaxMS/1000, s.ScaleDown.P50MS/1000, s.ScaleDown.MaxMS/1000)
		case p.Name == "logs":
			fmt.Fprintf(&b, "%-16s %d lines followed, max lag %.0f ms\n", p.Name+":", s.LogLines, s.LogMaxLagMS)
		case p.Name == "service":
			fmt.Fprintf(&b, "%-16s %d requests, %d failed\n", p.Name+":", s.Requests, s.RequestsFailed)
		case p.Name == "storage":
			fmt.Fprintf(&b, "%-16s %d writes, the writer pod recreated %s on its claim with every line kept\n", p.Name+":", s.Writes, times(s.WriterRestarts))
		}
	}
	shown := 0
	for _, e := range r.Events {
		if shown == 5 {
			fmt.Fprintf(&b, "  ... %d more in the JSON result\n", len(r.Events)-shown+r.EventsDropped)
			break
		}
		fmt.Fprintf(&b, "  at %s %s (%s): %s\n", secs(e.T), e.Kind, e.Part, e.Message)
		shown++
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}
