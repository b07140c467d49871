package reports

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kprobe/kprobe/adapters/launchresult"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// view is a report arranged for the document renderers (Markdown, HTML):
// both show the same sections in the same order.
type view struct {
	R        *Report
	Title    string
	Meta     []string
	Blockers []findingRow
	Warnings []findingRow
	Ladder   []ladderRow
	Domains  []domainView
	Attempts []attemptRow
	// Phases are the last attempt's.
	Phases []launchresult.Phase
	// Launched is the launch's outcome in words, "" without a launch.
	Launched string
	Caps     []capRow
}

type ladderRow struct {
	Rung  profiles.Rung
	Title string
	// State is "verdict", "possible", "blocked" or "out" (below the
	// verdict, T4 when a rung is possible).
	State string
	// Launch is "reached" or "failed" when the launch ended on this rung.
	Launch string
	// New are the requirements this rung is the lowest to miss; rungs
	// above inherit them.
	New        []profiles.Unmet
	Unverified []profiles.Unmet
}

type domainView struct {
	Name    string
	Results []probes.Result
	Facts   []factRow
	Counts  string
}

type factRow struct{ Key, Value string }

// findingRow is a finding with a unique HTML id ("blocker-KP-CG-001").
type findingRow struct {
	probes.Finding
	ID string
}

func findingRows(prefix string, fs []probes.Finding) []findingRow {
	seen := map[string]int{}
	rows := make([]findingRow, len(fs))
	for i, f := range fs {
		id := prefix + "-" + f.Code
		if n := seen[id]; n > 0 {
			id += fmt.Sprintf("-%d", n+1)
		}
		seen[prefix+"-"+f.Code]++
		rows[i] = findingRow{f, id}
	}
	return rows
}

type capRow struct {
	Name  string
	Value probes.Tri
}

type attemptRow struct {
	N         int
	Rung      profiles.Rung
	Outcome   string
	Remedies  string
	Took      string
	Code      string
	Component string
	Line      string
	Diagnosis string
	Fix       string
	Error     string
}

func newView(r *Report) *view {
	v := &view{R: r, Title: sandboxTitle(r)}
	v.Meta = append(v.Meta, fmt.Sprintf("generated %s by kprobe %s", r.GeneratedAt.UTC().Format("2006-01-02 15:04 MST"), r.KprobeVersion))
	if !r.ScannedAt.IsZero() && (!r.ScannedAt.Equal(r.GeneratedAt) || r.ScannedBy != r.KprobeVersion) {
		v.Meta = append(v.Meta, fmt.Sprintf("scanned %s by kprobe %s", r.ScannedAt.UTC().Format("2006-01-02 15:04 MST"), r.ScannedBy))
	}
	switch r.Source {
	case "", "live":
		v.Meta = append(v.Meta, plural(len(r.Results), "probe"))
	default:
		v.Meta = append(v.Meta, fmt.Sprintf("%s replayed from %s", plural(len(r.Results), "probe"), r.Source))
	}
	if r.Redacted {
		v.Meta = append(v.Meta, "redacted for sharing")
	}
	blockers, warnings := findings(r.Results)
	v.Blockers, v.Warnings = findingRows("blocker", blockers), findingRows("warning", warnings)
	v.Ladder = ladder(r)
	v.Domains = domains(r.Results)
	v.Caps = capRows(r.Capabilities)
	for i, a := range r.Attempts {
		row := attemptRow{N: i + 1, Rung: a.Rung, Outcome: "failed", Remedies: strings.Join(a.Remedies, "; "), Error: firstLine(a.Error)}
		if a.Ready {
			row.Outcome = "ready"
		}
		if a.Result != nil && len(a.Result.Phases) > 0 {
			row.Took = fmt.Sprintf("%.1f s", a.Result.Phases[len(a.Result.Phases)-1].AtMS/1000)
		}
		if d := a.Diagnosis; d != nil {
			row.Code, row.Component, row.Line, row.Diagnosis, row.Fix = d.Code, d.Component, d.Line, d.Diagnosis, d.Fix
		}
		v.Attempts = append(v.Attempts, row)
	}
	last := r.Launch
	if n := len(r.Attempts); n > 0 && r.Attempts[n-1].Result != nil {
		last = r.Attempts[n-1].Result
	}
	if last != nil {
		v.Phases = last.Phases
	}
	if rung, ready, ok := r.Launched(); ok {
		if ready {
			v.Launched = fmt.Sprintf("launch reached %s: %s", rung, profiles.RungTitle[rung])
		} else {
			v.Launched = fmt.Sprintf("launch failed at %s", rung)
		}
	}
	return v
}

// sandboxTitle names the sandbox in a few words.
func sandboxTitle(r *Report) string {
	id := r.Identity.Sandbox
	if id == "" {
		id = "unknown sandbox"
	}
	var extra []string
	if vm := r.Identity.VM; vm != "" && vm != "none" && vm != "unknown" {
		extra = append(extra, "vm "+vm)
	}
	if ide := r.Identity.IDE; ide != "" && ide != "none" && ide != "unknown" {
		extra = append(extra, ide)
	}
	if r.Identity.Confidence != "" {
		extra = append(extra, r.Identity.Confidence+" confidence")
	}
	if len(extra) > 0 {
		id += " (" + strings.Join(extra, ", ") + ")"
	}
	return id
}

// findings splits the results' findings into blockers and warnings (ignored
// blockers among them), each sorted by code.
func findings(rs []probes.Result) (blockers, warns []probes.Finding) {
	for _, res := range rs {
		for _, f := range res.Findings {
			switch {
			case f.Severity == probes.Block && !f.Ignored:
				blockers = append(blockers, f)
			case f.Severity == probes.Warn || f.Ignored:
				warns = append(warns, f)
			}
		}
	}
	sortFindings(blockers)
	sortFindings(warns)
	return blockers, warns
}

func ladder(r *Report) []ladderRow {
	byRung := map[profiles.Rung]profiles.RungCheck{}
	for _, c := range r.Verdict.Checks {
		byRung[c.Rung] = c
	}
	launched, ready, didLaunch := r.Launched()
	rows := make([]ladderRow, len(profiles.Rungs))
	seen := map[string]bool{}
	// From the bottom up, so a requirement is named at the lowest rung it
	// rules out.
	for i := len(profiles.Rungs) - 1; i >= 0; i-- {
		rung := profiles.Rungs[i]
		row := ladderRow{Rung: rung, Title: profiles.RungTitle[rung], State: "out"}
		c, judged := byRung[rung]
		switch {
		case rung == r.Verdict.Rung:
			row.State = "verdict"
		case judged && c.Possible:
			row.State = "possible"
		case judged:
			row.State = "blocked"
		}
		if judged {
			for _, u := range c.Blockers {
				if !seen[u.Requirement] {
					seen[u.Requirement] = true
					row.New = append(row.New, u)
				}
			}
			if row.State == "verdict" {
				row.Unverified = c.Unverified
			}
		}
		if didLaunch && launched == rung {
			row.Launch = "failed"
			if ready {
				row.Launch = "reached"
			}
		}
		rows[i] = row
	}
	return rows
}

func domains(rs []probes.Result) []domainView {
	byDomain := map[probes.Domain][]probes.Result{}
	for _, res := range rs {
		byDomain[res.Domain] = append(byDomain[res.Domain], res)
	}
	order := append([]probes.Domain{}, probes.DomainOrder...)
	var extra []probes.Domain
	for d := range byDomain {
		known := false
		for _, o := range order {
			known = known || o == d
		}
		if !known {
			extra = append(extra, d)
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
	var out []domainView
	for _, d := range append(order, extra...) {
		results := byDomain[d]
		if len(results) == 0 {
			continue
		}
		dv := domainView{Name: string(d), Results: results}
		counts := map[probes.Status]int{}
		for _, res := range results {
			counts[res.Status]++
			for _, k := range res.Facts.Keys() {
				dv.Facts = append(dv.Facts, factRow{k, probes.Format(res.Facts[k])})
			}
		}
		var parts []string
		for _, s := range []probes.Status{probes.StatusBlock, probes.StatusWarn, probes.StatusOK, probes.StatusUnknown, probes.StatusSkipped} {
			if counts[s] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
			}
		}
		dv.Counts = strings.Join(parts, ", ")
		sort.SliceStable(dv.Facts, func(i, j int) bool { return dv.Facts[i].Key < dv.Facts[j].Key })
		out = append(out, dv)
	}
	return out
}

func capRows(c profiles.Capabilities) []capRow {
	return []capRow{
		{"containers start", c.ContainersStart}, {"cgroups writable", c.CgroupsWritable},
		{"overlay mountable", c.OverlayMountable}, {"/dev/kmsg readable", c.KmsgReadable},
		{"iptables usable", c.IptablesUsable}, {"user namespaces", c.UserNamespaces},
		{"in a user namespace", c.InUserNamespace}, {"kubelet can stat its fs", c.KubeletStats},
	}
}
