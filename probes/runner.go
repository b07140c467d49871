package probes

import (
	"context"
	"fmt"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

// Status is a probe's overall answer.
type Status string

const (
	StatusOK      Status = "ok"
	StatusWarn    Status = "warn"
	StatusBlock   Status = "block"
	StatusUnknown Status = "unknown"
	StatusSkipped Status = "skipped"
)

// Result is one probe's outcome as the runner records it.
type Result struct {
	ID         string     `json:"id"`
	Domain     Domain     `json:"domain"`
	Mode       Mode       `json:"mode"`
	Status     Status     `json:"status"`
	Summary    string     `json:"summary,omitempty"`
	Facts      Facts      `json:"facts"`
	Findings   []Finding  `json:"findings,omitempty"`
	Evidence   []Evidence `json:"evidence,omitempty"`
	Error      string     `json:"error,omitempty"`
	DurationMS float64    `json:"duration_ms"`
}

// Options select and bound the probes of a scan.
type Options struct {
	Only    []string      // run only these probe IDs
	Skip    []string      // never run these probe IDs
	Passive bool          // skip active probes
	Timeout time.Duration // per probe; 0 means DefaultTimeout
	Ignore  []string      // finding codes downgraded from block to warn; "all" for every one
	// Parallel bounds how many probes run at once; 0 means 8.
	Parallel int
	// OnResult, when set, is called once per finished probe, from the
	// runner's goroutines (serialised).
	OnResult func(Result)
}

// DefaultTimeout bounds one probe.
const DefaultTimeout = 10 * time.Second

// Scan is the outcome of running a probe list.
type Scan struct {
	Results []Result `json:"results"`
	// Facts merges every result's facts.
	Facts      Facts     `json:"facts"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS float64   `json:"duration_ms"`
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*(\.[a-z][a-z0-9]*(-[a-z0-9]+)*)*$`)

// ValidID reports whether id is a well-formed probe ID (dotted kebab case).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Select applies Only, Skip and Passive to a probe list. Unknown IDs in
// Only or Skip are an error naming them.
func Select(all []Probe, opts Options) ([]Probe, error) {
	known := map[string]bool{}
	for _, p := range all {
		known[p.ID()] = true
	}
	var unknown []string
	for _, id := range append(append([]string{}, opts.Only...), opts.Skip...) {
		if !known[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		ids := make([]string, 0, len(all))
		for _, p := range all {
			ids = append(ids, p.ID())
		}
		return nil, fmt.Errorf("unknown probe ID %s; known IDs: %s",
			strings.Join(unknown, ", "), strings.Join(ids, ", "))
	}
	if err := checkIgnore(all, opts.Ignore); err != nil {
		return nil, err
	}
	in := func(list []string, id string) bool {
		for _, x := range list {
			if x == id {
				return true
			}
		}
		return false
	}
	var out []Probe
	for _, p := range all {
		if len(opts.Only) > 0 && !in(opts.Only, p.ID()) {
			continue
		}
		if in(opts.Skip, p.ID()) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// Run runs the probes concurrently, each with its own timeout, and never
// lets one probe's panic or hang take down the scan. Results come back in
// the order of the probe list. Probes left out by Passive are recorded as
// skipped.
func Run(ctx context.Context, env *Env, ps []Probe, opts Options) *Scan {
	start := time.Now()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = 8
	}
	results := make([]Result, len(ps))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, p := range ps {
		if opts.Passive && p.Mode() == Active {
			results[i] = Result{ID: p.ID(), Domain: p.Domain(), Mode: p.Mode(), Status: StatusSkipped,
				Facts: Facts{}, Error: "active probe skipped (--passive)"}
			if opts.OnResult != nil {
				mu.Lock()
				opts.OnResult(results[i])
				mu.Unlock()
			}
			continue
		}
		wg.Add(1)
		go func(i int, p Probe) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := runOne(ctx, env, p, timeout)
			applyIgnore(&r, opts.Ignore)
			results[i] = r
			if opts.OnResult != nil {
				mu.Lock()
				opts.OnResult(r)
				mu.Unlock()
			}
		}(i, p)
	}
	wg.Wait()
	facts := Facts{}
	for _, r := range results {
		facts.Merge(r.Facts)
	}
	return &Scan{Results: results, Facts: facts, StartedAt: start,
		DurationMS: ms(time.Since(start))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// runOne runs a probe with a timeout. A probe that overruns is abandoned
// (its goroutine finishes in the background; active probes' children are
// killed by their context).
func runOne(ctx context.Context, env *Env, p Probe, timeout time.Duration) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type outcome struct {
		obs *Observation
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- outcome{err: fmt.Errorf("probe panicked: %v\n%s", v, firstLines(string(debug.Stack()), 12))}
			}
		}()
		var o outcome
		if p.Mode() == Active && env.Active != nil {
			o.obs, o.err = env.Active.RunActive(ctx, p)
		} else {
			o.obs, o.err = p.Run(ctx, env)
		}
		done <- o
	}()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		o.err = fmt.Errorf("probe did not finish within %s", timeout)
	}
	r := Result{ID: p.ID(), Domain: p.Domain(), Mode: p.Mode(), Facts: Facts{}}
	if o.obs != nil {
		if o.obs.Facts != nil {
			r.Facts = o.obs.Facts
		}
		r.Summary = o.obs.Summary
		r.Findings = o.obs.Findings
		r.Evidence = o.obs.Evidence
	}
	if o.err != nil {
		r.Error = o.err.Error()
	}
	r.Status = statusOf(r)
	r.DurationMS = ms(time.Since(start))
	return r
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// statusOf derives a result's status: the worst finding, or unknown when
// the probe could not observe or learnt nothing certain.
func statusOf(r Result) Status {
	worst := -1
	for _, f := range r.Findings {
		sev := f.Severity
		if f.Ignored {
			sev = Warn
		}
		if sev.rank() > worst {
			worst = sev.rank()
		}
	}
	switch worst {
	case 2:
		return StatusBlock
	case 1:
		return StatusWarn
	}
	if r.Error != "" {
		return StatusUnknown
	}
	if len(r.Facts) > 0 {
		for _, v := range r.Facts {
			if t, ok := v.(Tri); !ok || t != Unknown {
				return StatusOK
			}
		}
		return StatusUnknown
	}
	return StatusOK
}

// BlockerCodes lists, sorted, the finding codes the probes declare as
// blockers: what --ignore accepts.
func BlockerCodes(all []Probe) []string {
	seen := map[string]bool{}
	var codes []string
	for _, p := range all {
		for _, c := range p.Codes() {
			if c.Severity == Block && !seen[c.Code] {
				seen[c.Code] = true
				codes = append(codes, c.Code)
			}
		}
	}
	sort.Strings(codes)
	return codes
}

// checkIgnore refuses an --ignore code no probe can report as a blocker:
// a typo would otherwise accept nothing, silently.
func checkIgnore(all []Probe, ignore []string) error {
	codes := BlockerCodes(all)
	blockers := map[string]bool{}
	for _, c := range codes {
		blockers[c] = true
	}
	var unknown []string
	for _, c := range ignore {
		if !strings.EqualFold(c, "all") && !blockers[strings.ToUpper(c)] {
			unknown = append(unknown, c)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return fmt.Errorf("--ignore: unknown finding code %s (or not a blocker); blocker codes: all, %s",
		strings.Join(unknown, ", "), strings.Join(codes, ", "))
}

func applyIgnore(r *Result, ignore []string) {
	if len(ignore) == 0 {
		return
	}
	all := false
	set := map[string]bool{}
	for _, c := range ignore {
		if strings.EqualFold(c, "all") {
			all = true
		}
		set[strings.ToUpper(c)] = true
	}
	changed := false
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Severity == Block && (all || set[strings.ToUpper(f.Code)]) {
			f.Ignored = true
			changed = true
		}
	}
	if changed {
		r.Status = statusOf(*r)
	}
}

// Blockers returns the findings that block (not ignored), sorted by code.
func (s *Scan) Blockers() []Finding {
	var out []Finding
	for _, r := range s.Results {
		for _, f := range r.Findings {
			if f.Severity == Block && !f.Ignored {
				out = append(out, f)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}
