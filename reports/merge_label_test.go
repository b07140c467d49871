package reports

import (
	"testing"

	"github.com/kprobe/kprobe/adapters/verify"
)

// A launch directory's report.json is named after its directory (the
// sandbox), so that merging */report.json gives distinct columns.
func TestFileLabel(t *testing.T) {
	for path, want := range map[string]string{
		"research/evidence/launches/userns-root/report.json": "userns-root",
		"gvisor/scan.json": "gvisor",
		"gvisor.json":      "gvisor",
		"report.json":      "report",
		"/tmp/podman.json": "podman",
	} {
		if got := FileLabel(path); got != want {
			t.Errorf("FileLabel(%q) = %q, want %q", path, got, want)
		}
	}
}

// The matrix shows passed, failed and skipped checks separately: a T3
// launch's "3/10 pass" hid 7 skipped checks.
func TestMatrixVerificationCounts(t *testing.T) {
	v := &verify.Report{Passed: true}
	for _, o := range []verify.Outcome{verify.Pass, verify.Pass, verify.Pass, verify.Fail} {
		v.Checks = append(v.Checks, verify.Check{Outcome: o})
	}
	for range 7 {
		v.Checks = append(v.Checks, verify.Check{Outcome: verify.Skipped})
	}
	r := &Report{Verification: v}
	m := Merge([]Named{{File: "t3", Report: r}})
	for _, sec := range m.Sections {
		for _, row := range sec.Rows {
			if row.Label == "verification" {
				if got := row.Cells[0].Text; got != "3 passed · 1 failed · 7 skipped" {
					t.Errorf("verification cell %q", got)
				}
				return
			}
		}
	}
	t.Errorf("no verification row: %+v", m.Sections)
}
