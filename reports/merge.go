package reports

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kprobe/kprobe/adapters/verify"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// Named is a report and where it came from (its file name without
// extension), for a matrix column.
type Named struct {
	File   string
	Report *Report
}

// Matrix is a compatibility matrix: one column per sandbox, one row per
// fact, capability, rung or blocker code.
type Matrix struct {
	Columns  []MatrixColumn
	Sections []MatrixSection
	Redacted bool
}

// MatrixColumn is one sandbox.
type MatrixColumn struct {
	// Name is the closest built-in profile when the scan matched one, else
	// the identity, else the file; File is the file it came from.
	Name, File string
}

// MatrixSection is a group of rows.
type MatrixSection struct {
	Title string
	Rows  []MatrixRow
}

// MatrixRow is one line of the matrix.
type MatrixRow struct {
	Label string
	// Note explains the label (a blocker's summary), "" when none.
	Note  string
	Cells []MatrixCell
}

// MatrixCell is a value and how to colour it: "yes", "no", "present"
// (a blocker here) or "".
type MatrixCell struct {
	Text, Class string
}

// MatrixFacts are the facts a matrix shows, in order: what tells sandboxes
// apart and what decides the rung.
var MatrixFacts = []string{
	"kernel.release", "kernel.emulated", "fs.root.type", "fs.datadir.type", "priv.uid", "priv.userns",
	"priv.cap_sys_admin", "priv.cap_net_admin", "priv.seccomp", "cgroups.layout", "cgroups.writable",
	"dev.kmsg", "overlay.mount_datadir", "overlay.fuse_overlayfs", "mount.rshared_possible", "ns.user",
	"net.veth", "net.vxlan", "net.iptables_backend", "container.best", "res.cpus", "res.memory_bytes",
}

// Merge builds the matrix of reports. Columns are sorted by name, then by
// file, so the same reports give the same matrix in any order.
func Merge(in []Named) *Matrix {
	cols := make([]Named, len(in))
	copy(cols, in)
	names := make([]string, len(cols))
	for i, n := range cols {
		names[i] = columnName(n)
	}
	idx := make([]int, len(cols))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		if names[idx[a]] != names[idx[b]] {
			return names[idx[a]] < names[idx[b]]
		}
		return cols[idx[a]].File < cols[idx[b]].File
	})
	m := &Matrix{Redacted: len(cols) > 0}
	rs := make([]*Report, len(cols))
	for i, j := range idx {
		rs[i] = cols[j].Report
		m.Columns = append(m.Columns, MatrixColumn{Name: names[j], File: cols[j].File})
		m.Redacted = m.Redacted && rs[i].Redacted
	}
	row := func(label string, f func(r *Report) MatrixCell) MatrixRow {
		mr := MatrixRow{Label: label}
		for _, r := range rs {
			mr.Cells = append(mr.Cells, f(r))
		}
		return mr
	}
	text := func(s string) MatrixCell { return MatrixCell{Text: s} }

	sandbox := MatrixSection{Title: "sandbox", Rows: []MatrixRow{
		row("identity", func(r *Report) MatrixCell { return text(sandboxTitle(r)) }),
		row("closest profile", func(r *Report) MatrixCell {
			switch p := r.Profile; {
			case p == nil:
				return text("")
			case p.Matched:
				return text(fmt.Sprintf("%s (%.2f)", p.Name, p.Score))
			default:
				return text(fmt.Sprintf("none (nearest %s, %.2f)", p.Name, p.Score))
			}
		}),
		row("scanned by", func(r *Report) MatrixCell { return text(r.ScannedBy) }),
	}}

	ladderRows := []MatrixRow{
		row("verdict", func(r *Report) MatrixCell { return text(string(r.Verdict.Rung)) }),
	}
	if anyReport(rs, func(r *Report) bool { return r.Profile != nil && r.Profile.Matched }) {
		ladderRows = append(ladderRows, row("verdict with the profile", func(r *Report) MatrixCell {
			if r.Profile == nil || !r.Profile.Matched {
				return text("")
			}
			return text(string(r.Profile.Verdict.Rung))
		}))
	}
	if anyReport(rs, func(r *Report) bool { _, _, ok := r.Launched(); return ok }) {
		ladderRows = append(ladderRows, row("launch reached", func(r *Report) MatrixCell {
			rung, ready, ok := r.Launched()
			switch {
			case !ok:
				return text("not launched")
			case ready:
				return MatrixCell{Text: string(rung), Class: "yes"}
			}
			return MatrixCell{Text: "failed at " + string(rung), Class: "no"}
		}))
	}
	if anyReport(rs, func(r *Report) bool { return r.Verification != nil }) {
		ladderRows = append(ladderRows, row("verification", func(r *Report) MatrixCell {
			v := r.Verification
			if v == nil {
				return text("not run")
			}
			return MatrixCell{Text: verificationCounts(v), Class: map[bool]string{true: "yes", false: "no"}[v.Passed]}
		}))
	}
	for _, rung := range profiles.Rungs[:len(profiles.Rungs)-1] {
		ladderRows = append(ladderRows, row(string(rung)+" possible", func(r *Report) MatrixCell {
			for _, c := range r.Verdict.Checks {
				if c.Rung == rung {
					return triCell(probes.TriOf(c.Possible))
				}
			}
			return text("")
		}))
	}

	caps := MatrixSection{Title: "capabilities"}
	for i, c := range capRows(profiles.Capabilities{}) {
		caps.Rows = append(caps.Rows, row(c.Name, func(r *Report) MatrixCell { return triCell(capRows(r.Capabilities)[i].Value) }))
	}

	facts := MatrixSection{Title: "key facts"}
	for _, k := range MatrixFacts {
		facts.Rows = append(facts.Rows, row(k, func(r *Report) MatrixCell {
			v, ok := r.Facts[k]
			if !ok {
				return text("")
			}
			// No colour: whether "yes" is good depends on the fact.
			if n, ok := v.(int64); ok && strings.HasSuffix(k, "_bytes") {
				return text(bytesText(n))
			}
			return text(probes.Format(v))
		}))
	}

	blockers := MatrixSection{Title: "blockers"}
	summary := map[string]string{}
	var codes []string
	for _, r := range rs {
		for _, f := range r.Blockers {
			if _, ok := summary[f.Code]; !ok {
				summary[f.Code] = f.Summary
				codes = append(codes, f.Code)
			}
		}
	}
	sort.Strings(codes)
	for _, code := range codes {
		mr := row(code, func(r *Report) MatrixCell {
			for _, f := range r.Blockers {
				if f.Code == code {
					return MatrixCell{Text: "✗", Class: "present"}
				}
			}
			return text("")
		})
		mr.Note = summary[code]
		blockers.Rows = append(blockers.Rows, mr)
	}
	m.Sections = []MatrixSection{sandbox, {Title: "ladder", Rows: ladderRows}, caps, facts, blockers}
	return m
}

// columnName is the closest built-in profile when the scan matched one,
// else the identity when known, else the file name.
func columnName(n Named) string {
	r := n.Report
	switch {
	case r.Profile != nil && r.Profile.Matched:
		return r.Profile.Name
	case r.Identity.Sandbox != "" && r.Identity.Sandbox != "unknown":
		return r.Identity.Sandbox
	case n.File != "":
		return n.File
	}
	return "unknown"
}

// verificationCounts says how many checks passed, failed and were
// skipped, separately: "3/10 pass" would hide 7 skipped checks (T3).
func verificationCounts(v *verify.Report) string {
	n := map[verify.Outcome]int{}
	for _, c := range v.Checks {
		n[c.Outcome]++
	}
	return fmt.Sprintf("%d passed · %d failed · %d skipped", n[verify.Pass], n[verify.Fail], n[verify.Skipped])
}

// FileLabel names a report file for its column: the file name without
// .json, or, for the generic names a launch directory holds
// (sandbox/report.json, sandbox/scan.json), the directory's name, which is
// the sandbox's: merging */report.json must not name every column
// "report".
func FileLabel(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".json")
	if base == "report" || base == "scan" {
		if dir := filepath.Base(filepath.Dir(path)); dir != "." && dir != "/" {
			return dir
		}
	}
	return base
}

func anyReport(rs []*Report, f func(*Report) bool) bool {
	for _, r := range rs {
		if f(r) {
			return true
		}
	}
	return false
}

func triCell(t probes.Tri) MatrixCell {
	c := MatrixCell{Text: t.String()}
	switch t {
	case probes.Yes:
		c.Class = "yes"
	case probes.No:
		c.Class = "no"
	}
	return c
}

func bytesText(n int64) string {
	const gib = 1 << 30
	if n >= gib {
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// header is a column's heading: its name, and the file when it says more.
func (c MatrixColumn) header() string {
	if c.File == "" || c.File == c.Name {
		return c.Name
	}
	return c.Name + " (" + c.File + ")"
}

// WriteMatrixMarkdown renders the matrix as Markdown tables, one per
// section.
func WriteMatrixMarkdown(w io.Writer, m *Matrix) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# kprobe compatibility matrix\n\n%d sandboxes", len(m.Columns))
	if m.Redacted {
		b.WriteString(", redacted for sharing")
	}
	b.WriteString(". Each column is one `kprobe report` (or `kprobe scan -o json`); ✗ marks a blocker.\n")
	for _, s := range m.Sections {
		if len(s.Rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s\n\n| %s |", s.Title, s.Title)
		for _, c := range m.Columns {
			fmt.Fprintf(&b, " %s |", mdText(c.header()))
		}
		b.WriteString("\n|---|")
		for range m.Columns {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for _, r := range s.Rows {
			label := "`" + mdCode(r.Label) + "`"
			if s.Title == "sandbox" || s.Title == "ladder" || s.Title == "capabilities" {
				label = mdText(r.Label)
			}
			fmt.Fprintf(&b, "| %s |", label)
			for _, c := range r.Cells {
				fmt.Fprintf(&b, " %s |", mdText(c.Text))
			}
			b.WriteString("\n")
		}
		if s.Title == "blockers" {
			b.WriteString("\n")
			for _, r := range s.Rows {
				fmt.Fprintf(&b, "- `%s`: %s\n", r.Label, mdText(r.Note))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMatrixHTML renders the matrix as one self-contained HTML page.
func WriteMatrixHTML(w io.Writer, m *Matrix) error {
	return htmlTemplates.ExecuteTemplate(w, "matrix", m)
}
