package soak

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// The verdict rule. A soak is stable when, over the whole run:
//
//   - restarts: no supervised component restarted and none was ever seen
//     not running, and no container of the soak's pods restarted;
//   - failed probes: no workload step failed (a scale step not done in
//     time, a log line missing or late, a request to the Service failing,
//     a write to the claim failing or lost, an API request failing);
//   - memory flat in steady state: for every component, the samples after
//     the warm-up (WarmUp) are split in halves; the first half is left to
//     settle (caches filling, etcd's raft log until its first truncation,
//     the Go heaps reaching their working size), and a least-squares line
//     through the second half, the steady state, projected over the whole
//     span after the warm-up, may rise at most MemoryGrowthPct of the
//     steady mean or at most MemorySlackMiB (small processes move by a few
//     MiB with the Go heap). Memory that levels off passes; a leak, which
//     keeps its rate, does not. At least MinMemorySamples samples after the
//     warm-up are needed, otherwise the criterion is unknown and the
//     verdict not ok;
//   - no leaks: more containerd shims than pods never lasts
//     ShimExcessSamples consecutive samples, no shim is left beyond one
//     per pod once the namespace is deleted, and no process of a deleted
//     pod outlives it (by ReapWait);
//   - complete: the soak ran its whole duration (not interrupted, the
//     cluster did not go away) and its namespace was deleted.
const (
	MemoryGrowthPct   = 20.0
	MemorySlackMiB    = 10.0
	MinMemorySamples  = 4
	ShimExcessSamples = 3
	ReapWait          = 30 * time.Second
)

// WarmUp is how much of the start of a soak the memory rule ignores:
// caches fill and the Go heaps grow to their working size. A tenth of
// the duration, at least 30 s.
func WarmUp(duration time.Duration) time.Duration {
	return max(30*time.Second, duration/10)
}

// MemoryFlat applies the memory rule to one component's series of RSS
// samples (KiB) taken after the warm-up.
func MemoryFlat(name string, kib []int64) MemoryTrend {
	m := MemoryTrend{Component: name, Samples: len(kib)}
	for _, v := range kib {
		m.MaxMiB = max(m.MaxMiB, float64(v)/1024)
	}
	if len(kib) < MinMemorySamples {
		return m
	}
	q := len(kib) / 4
	mean := func(s []int64) float64 {
		var sum float64
		for _, v := range s {
			sum += float64(v)
		}
		return sum / float64(len(s)) / 1024
	}
	m.FirstMiB, m.LastMiB = round1(mean(kib[:q])), round1(mean(kib[len(kib)-q:]))
	first, last := mean(kib[:q]), mean(kib[len(kib)-q:])
	if first > 0 {
		m.ChangePct = round1((last - first) / first * 100)
	}
	m.MaxMiB = round1(m.MaxMiB)
	m.Judged = true
	steady := kib[len(kib)/2:]
	growth := slope(steady) / 1024 * float64(len(kib)-1)
	m.SteadyMiB, m.SteadyGrowthMiB = round1(mean(steady)), round1(growth)
	m.Flat = growth <= mean(steady)*MemoryGrowthPct/100 || growth <= MemorySlackMiB
	return m
}

// slope is the least-squares rise per sample of an evenly spaced series.
func slope(v []int64) float64 {
	n := float64(len(v))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i, y := range v {
		x := float64(i)
		sx, sy, sxx, sxy = sx+x, sy+float64(y), sxx+x*x, sxy+x*float64(y)
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// Judge fills the result's Summary and Verdict from its samples, cycles,
// events and final state.
func Judge(r *Result) {
	s := Summary{Samples: len(r.Samples)}
	warm := WarmUp(time.Duration(r.DurationS * float64(time.Second)))
	s.WarmUpS = warm.Seconds()
	var api []float64
	notRunning := map[string]bool{}
	rss := map[string][]int64{}
	run := 0
	for _, x := range r.Samples {
		restarts := 0
		for _, n := range x.Restarts {
			restarts += n
		}
		s.ComponentRestarts = max(s.ComponentRestarts, restarts)
		s.PodRestarts = max(s.PodRestarts, x.PodRestarts)
		for _, n := range x.NotRunning {
			notRunning[n] = true
		}
		for _, v := range x.APIMS {
			api = append(api, v)
		}
		if x.T >= warm.Seconds() {
			for n, v := range x.RSSKiB {
				rss[n] = append(rss[n], v)
			}
		}
		s.LogLines += x.LogLines
		s.LogMaxLagMS = max(s.LogMaxLagMS, x.LogLagMS)
		s.Requests += x.Requests
		s.RequestsFailed += x.RequestsFailed
		s.Writes += x.Writes
		if ex := x.Shims - x.Pods; ex > 0 {
			s.MaxShimExcess = max(s.MaxShimExcess, ex)
			run++
			s.LongestShimExcess = max(s.LongestShimExcess, run)
		} else {
			run = 0
		}
	}
	s.API = stat(api)
	var up, down []float64
	for _, c := range r.Cycles {
		if c.OK {
			s.ScaleCycles++
			up, down = append(up, c.UpMS), append(down, c.DownMS)
		}
	}
	s.ScaleUp, s.ScaleDown = stat(up), stat(down)
	leakEvents := 0
	for _, e := range r.Events {
		switch e.Kind {
		case EventFailedProbe:
			s.FailedProbes++
		case EventLeak:
			leakEvents++
		}
	}
	s.FailedProbes += r.EventsDropped
	s.LeakedProcesses = r.Final.LeakedProcesses
	names := make([]string, 0, len(rss))
	for n := range rss {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s.Memory = append(s.Memory, MemoryFlat(n, rss[n]))
	}
	s.WriterRestarts = r.WriterRestarts
	r.Summary = s

	var v Verdict
	add := func(name string, ok bool, detail string) {
		o := Pass
		if !ok {
			o = Fail
		}
		v.Criteria = append(v.Criteria, Criterion{Name: name, Outcome: o, Detail: detail})
	}
	var down2 []string
	for n := range notRunning {
		down2 = append(down2, n)
	}
	sort.Strings(down2)
	detail := fmt.Sprintf("%d component restarts, %d container restarts", s.ComponentRestarts, s.PodRestarts)
	if len(down2) > 0 {
		detail += "; seen not running: " + strings.Join(down2, ", ")
	}
	add("restarts", s.ComponentRestarts == 0 && s.PodRestarts == 0 && len(down2) == 0, detail)

	detail = fmt.Sprintf("%d failed probes", s.FailedProbes)
	if s.FailedProbes > 0 {
		detail += "; first: " + firstFailure(r.Events)
	}
	add("failed-probes", s.FailedProbes == 0, detail)

	memOK, judged := true, len(s.Memory) > 0
	var grew, parts []string
	for _, m := range s.Memory {
		if !m.Judged {
			judged = false
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.0f→%.0f MiB (%+.1f%%; steady trend %+.1f MiB)", m.Component, m.FirstMiB, m.LastMiB, m.ChangePct, m.SteadyGrowthMiB))
		if !m.Flat {
			memOK = false
			grew = append(grew, m.Component)
		}
	}
	switch {
	case !judged:
		v.Criteria = append(v.Criteria, Criterion{Name: "memory-flat", Outcome: Unknown,
			Detail: fmt.Sprintf("fewer than %d samples after the %s warm-up: soak longer", MinMemorySamples, warm)})
	case !memOK:
		add("memory-flat", false, "grew more than the rule allows: "+strings.Join(grew, ", ")+"; "+strings.Join(parts, ", "))
	default:
		add("memory-flat", true, strings.Join(parts, ", "))
	}

	leakOK := s.LongestShimExcess < ShimExcessSamples && r.Final.LeakedShims == 0 && r.Final.LeakedProcesses == 0 && leakEvents == 0
	detail = fmt.Sprintf("shims beyond pods: max %d, for at most %d consecutive samples; after cleanup %d shims left over, %d processes of deleted pods",
		s.MaxShimExcess, s.LongestShimExcess, r.Final.LeakedShims, r.Final.LeakedProcesses)
	if leakEvents > 0 {
		detail += fmt.Sprintf("; %d scale-downs left processes behind", leakEvents)
	}
	if !r.ProcessAttribution {
		detail += " (processes cannot be attributed to pods here: shims only)"
	}
	add("leaks", leakOK, detail)

	detail = fmt.Sprintf("sampled %s of %s", secs(r.ElapsedS), secs(r.DurationS))
	complete := !r.Interrupted && r.Aborted == "" && r.Final.NamespaceDeleted
	if r.Interrupted {
		detail += "; interrupted"
	}
	if r.Aborted != "" {
		detail += "; aborted: " + r.Aborted
	}
	if !r.Final.NamespaceDeleted {
		detail += "; namespace " + r.Namespace + " not deleted: " + r.Final.Error
	}
	add("complete", complete, detail)

	v.OK = true
	for _, c := range v.Criteria {
		v.OK = v.OK && c.Outcome == Pass
	}
	r.Verdict = v
}

func firstFailure(events []Event) string {
	for _, e := range events {
		if e.Kind == EventFailedProbe {
			return fmt.Sprintf("%s at %s: %s", e.Part, secs(e.T), e.Message)
		}
	}
	return "(dropped)"
}

// stat summarises durations (ms) by nearest rank.
func stat(ms []float64) Stat {
	if len(ms) == 0 {
		return Stat{}
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return round1(s[max(0, min(i, len(s)-1))])
	}
	return Stat{N: len(s), P50MS: rank(0.50), P95MS: rank(0.95), MaxMS: round1(s[len(s)-1])}
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Second).String()
}
