// Package obstest holds the helpers for tests of probe observations that
// need no probe package. probetest imports the suite, and so every probe
// package: a probe package's internal tests cannot import it, but can
// import obstest.
package obstest

import (
	"slices"

	"github.com/kprobe/kprobe/probes"
)

// Codes returns the codes of findings, sorted; nil when there are none.
func Codes(findings []probes.Finding) []string {
	var out []string
	for _, f := range findings {
		out = append(out, f.Code)
	}
	slices.Sort(out)
	return out
}
