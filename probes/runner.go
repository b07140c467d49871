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
	// Needed gates probes by ID: a probe whose answer matters only while
	// the other probes' facts leave it able to change the verdict. The
	// func is given the facts of the other probes finished so far (or of
	// all of them); once it says not needed, the probe is stopped (or
	// not started) and recorded as skipped with the reason in its
	// evidence. The func must be monotone: a "not needed" may not turn
	// back to "needed" as more facts come in, so the answer does not
	// depend on which probe finished first.
	Needed map[string]func(others Facts) (needed bool, why string)
	// Hold delays the start of a gated probe (one in Needed) while the
	// facts of the probes finished so far say its gate will likely close
	// before it could finish: where processes are expensive (gVisor) its
	// child would only take time from the probes that close it. The func
	// is asked when the probe would start and after each finished probe:
	// Yes holds it, No starts it, Unknown waits for more facts (so the
	// facts it reads should come from a quick passive probe: the wait
	// delays the start everywhere). A held probe starts once the func
	// says No, or once every probe that is not gated has finished, unless
	// it is by then not needed. Only the start moves: whether the probe
	// runs, and whether its result is kept, are decided by Needed as
	// without it.
	Hold map[string]func(sofar Facts) Tri
}

// DefaultTimeout bounds one probe.
const DefaultTimeout = 10 * time.Second

// cleanupLimit bounds how long a scan waits, after its last probe
// returned, for the children of probes given up at their time limit to
// be killed and swept (ActiveWaiter): long enough for a kill and a sweep,
// short enough that a child stuck in the kernel cannot hold the scan.
const cleanupLimit = 5 * time.Second

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
	g := newGates(ctx, ps, opts)
	if pr, ok := env.Active.(ActivePreparer); ok {
		var active []Probe
		for _, p := range ps {
			if p.Mode() == Active && !opts.Passive {
				active = append(active, p)
			}
		}
		pr.Prepare(active)
	}
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
			if held, ok := g.hold(i); ok {
				mu.Lock()
				results[i] = held // not needed: decide records it as skipped
				mu.Unlock()
				return
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			r := runOne(g.context(i), env, p, timeout)
			applyIgnore(&r, opts.Ignore)
			mu.Lock()
			defer mu.Unlock()
			results[i] = r
			if g.gated(i) {
				return // reported once the gate is decided, below
			}
			g.finished(r.Facts)
			if opts.OnResult != nil {
				opts.OnResult(r)
			}
		}(i, p)
	}
	wg.Wait()
	if w, ok := env.Active.(ActiveWaiter); ok {
		w.Wait(cleanupLimit)
	}
	g.decide(results, opts.OnResult)
	facts := Facts{}
	for _, r := range results {
		facts.Merge(r.Facts)
	}
	return &Scan{Results: results, Facts: facts, StartedAt: start,
		DurationMS: ms(time.Since(start))}
}

// gates runs Options.Needed: each gated probe gets a context of its own,
// cancelled as soon as the facts of the probes finished so far make it
// not needed. It also holds gated probes back (Options.Hold).
type gates struct {
	needed map[int]func(Facts) (bool, string)
	cancel map[int]context.CancelFunc
	ctx    map[int]context.Context
	base   context.Context
	probes []Probe

	mu      sync.Mutex // guards what follows, for hold
	holds   map[int]func(Facts) Tri
	sofar   Facts
	left    int           // probes that are not gated and have not finished
	changed chan struct{} // closed (and replaced) when sofar or left change
}

func newGates(ctx context.Context, ps []Probe, opts Options) *gates {
	g := &gates{needed: map[int]func(Facts) (bool, string){}, cancel: map[int]context.CancelFunc{},
		ctx: map[int]context.Context{}, base: ctx, probes: ps, holds: map[int]func(Facts) Tri{},
		sofar: Facts{}, changed: make(chan struct{})}
	for i, p := range ps {
		if opts.Passive && p.Mode() == Active {
			continue // not run at all
		}
		if fn, ok := opts.Needed[p.ID()]; ok {
			g.needed[i] = fn
			g.ctx[i], g.cancel[i] = context.WithCancel(ctx)
			if h, ok := opts.Hold[p.ID()]; ok {
				g.holds[i] = h
			}
			continue
		}
		g.left++
	}
	return g
}

// hold waits while gated probe i is held (Options.Hold). ok: it became
// not needed while held, and r is its placeholder result (not run).
func (g *gates) hold(i int) (r Result, ok bool) {
	h, held := g.holds[i]
	if !held {
		return Result{}, false
	}
	start := time.Now()
	for {
		g.mu.Lock()
		wait, changed := g.left > 0 && h(g.sofar) != No, g.changed
		g.mu.Unlock()
		if !wait {
			break
		}
		select {
		case <-changed:
		case <-g.ctx[i].Done():
		}
		if g.ctx[i].Err() != nil {
			break
		}
	}
	if err := g.ctx[i].Err(); err != nil {
		p := g.probes[i]
		return Result{ID: p.ID(), Domain: p.Domain(), Mode: p.Mode(), Status: StatusSkipped, Facts: Facts{},
			Error: "not started: " + err.Error(), DurationMS: ms(time.Since(start))}, true
	}
	return Result{}, false
}

func (g *gates) gated(i int) bool { _, ok := g.needed[i]; return ok }

func (g *gates) context(i int) context.Context {
	if c, ok := g.ctx[i]; ok {
		return c
	}
	return g.base
}

// finished takes the facts of a probe that is not gated and stops the
// gated probes they make not needed (the caller holds the runner's lock).
func (g *gates) finished(f Facts) {
	if len(g.needed) == 0 {
		return
	}
	g.mu.Lock()
	g.sofar.Merge(f)
	g.left--
	close(g.changed)
	g.changed = make(chan struct{})
	g.mu.Unlock()
	for i, fn := range g.needed {
		if ok, _ := fn(g.sofar); !ok {
			g.cancel[i]()
		}
	}
}

// decide judges each gated probe on the facts of every probe not gated: not
// needed replaces its result (finished or stopped) by a skipped one, so
// the scan's facts do not depend on timing. Then it reports the gated
// results.
func (g *gates) decide(results []Result, onResult func(Result)) {
	for i, fn := range g.needed {
		others := Facts{}
		for j, r := range results {
			if !g.gated(j) {
				others.Merge(r.Facts)
			}
		}
		if ok, why := fn(others); !ok {
			r := results[i]
			results[i] = Result{ID: r.ID, Domain: r.Domain, Mode: r.Mode, Status: StatusSkipped, Facts: Facts{},
				Summary: "not run: " + why, Evidence: []Evidence{{Source: "scan", Excerpt: "not run: " + why}},
				DurationMS: r.DurationMS}
		}
		g.cancel[i]()
	}
	if onResult == nil {
		return
	}
	for i := range results {
		if g.gated(i) {
			onResult(results[i])
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ActiveCleanup bounds how long runOne waits, after an active probe
// overran its time limit, for its child to be killed and what the child
// left to be swept (Sweeper). Without the wait, a scan that ended first
// left them: in a VM without KVM the container probe overran its 10 s and
// its three containers' cgroups stayed at the top of the cgroup tree.
var ActiveCleanup = 10 * time.Second

// runOne runs a probe with a timeout. A probe that overruns is abandoned
// (a passive one's goroutine finishes in the background); an active
// probe's child is killed by the context and swept, which runOne waits
// for (ActiveCleanup).
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
		if p.Mode() == Active && env.Active != nil {
			// Its child is being killed now, and what it left swept
			// after it: wait for that, or a scan that ends first leaves
			// them behind.
			select {
			case late := <-done:
				if late.err != nil {
					o.err = fmt.Errorf("%w (%v)", o.err, late.err)
				}
			case <-time.After(ActiveCleanup):
			}
		}
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
