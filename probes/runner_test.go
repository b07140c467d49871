package probes

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeProbe is a test double for the runner's own behaviour (timeouts,
// panics, ignore); real probes are tested against the real kernel.
type fakeProbe struct {
	id   string
	mode Mode
	run  func(ctx context.Context) (*Observation, error)
}

func (f fakeProbe) ID() string        { return f.id }
func (f fakeProbe) Domain() Domain    { return DomainKernel }
func (f fakeProbe) Mode() Mode        { return f.mode }
func (f fakeProbe) Codes() []Code     { return []Code{blockCode} }
func (f fakeProbe) Facts() []FactSpec { return []FactSpec{{Key: f.id + ".x", Type: TypeTri}} }
func (f fakeProbe) Run(ctx context.Context, _ *Env) (*Observation, error) {
	return f.run(ctx)
}

var blockCode = Code{Code: "KP-TEST-001", Severity: Block, Title: "test blocker", Fix: "do it"}

func obsWith(k string, v any, findings ...Code) *Observation {
	o := NewObservation()
	o.Set(k, v)
	for _, c := range findings {
		o.Find(c, c.Title, Evidence{Source: "test"})
	}
	return o
}

func TestRunIsolatesPanicsTimeoutsAndErrors(t *testing.T) {
	ps := []Probe{
		fakeProbe{id: "good", run: func(context.Context) (*Observation, error) { return obsWith("good.x", Yes), nil }},
		fakeProbe{id: "panics", run: func(context.Context) (*Observation, error) { panic("boom") }},
		fakeProbe{id: "hangs", run: func(ctx context.Context) (*Observation, error) {
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // ignores its context for a while
			return nil, ctx.Err()
		}},
		fakeProbe{id: "blind", run: func(context.Context) (*Observation, error) { return nil, errors.New("EACCES") }},
		fakeProbe{id: "blocks", run: func(context.Context) (*Observation, error) { return obsWith("blocks.x", No, blockCode), nil }},
		fakeProbe{id: "unsure", run: func(context.Context) (*Observation, error) { return obsWith("unsure.x", Unknown), nil }},
	}
	start := time.Now()
	s := Run(context.Background(), &Env{}, ps, Options{Timeout: 100 * time.Millisecond})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a hanging probe held the scan for %s", d)
	}
	want := map[string]Status{"good": StatusOK, "panics": StatusUnknown, "hangs": StatusUnknown,
		"blind": StatusUnknown, "blocks": StatusBlock, "unsure": StatusUnknown}
	for i, r := range s.Results {
		if r.ID != ps[i].ID() {
			t.Fatalf("result %d is %s, want probe order %s", i, r.ID, ps[i].ID())
		}
		if r.Status != want[r.ID] {
			t.Errorf("%s: status %s, want %s (error %q)", r.ID, r.Status, want[r.ID], r.Error)
		}
	}
	if !strings.Contains(s.Results[1].Error, "panicked: boom") {
		t.Errorf("panic not reported: %q", s.Results[1].Error)
	}
	if !strings.Contains(s.Results[2].Error, "did not finish within") {
		t.Errorf("timeout not reported: %q", s.Results[2].Error)
	}
	if s.Facts.Tri("good.x") != Yes || s.Facts.Tri("blocks.x") != No {
		t.Errorf("facts not merged: %v", s.Facts)
	}
	if b := s.Blockers(); len(b) != 1 || b[0].Code != "KP-TEST-001" {
		t.Errorf("blockers = %v", b)
	}
}

func TestIgnoreDowngradesBlockers(t *testing.T) {
	ps := []Probe{fakeProbe{id: "blocks", run: func(context.Context) (*Observation, error) {
		return obsWith("blocks.x", No, blockCode), nil
	}}}
	for _, ignore := range [][]string{{"KP-TEST-001"}, {"kp-test-001"}, {"all"}} {
		s := Run(context.Background(), &Env{}, ps, Options{Ignore: ignore})
		r := s.Results[0]
		if r.Status != StatusWarn || !r.Findings[0].Ignored || len(s.Blockers()) != 0 {
			t.Errorf("--ignore %v: status %s, findings %+v", ignore, r.Status, r.Findings)
		}
	}
	s := Run(context.Background(), &Env{}, ps, Options{Ignore: []string{"KP-OTHER-001"}})
	if s.Results[0].Status != StatusBlock {
		t.Errorf("an unrelated --ignore changed the status to %s", s.Results[0].Status)
	}
}

func TestSelectAndPassive(t *testing.T) {
	mk := func(id string, m Mode) Probe {
		return fakeProbe{id: id, mode: m, run: func(context.Context) (*Observation, error) { return obsWith(id+".x", Yes), nil }}
	}
	all := []Probe{mk("a", Passive), mk("b", Active), mk("c", Passive)}
	got, err := Select(all, Options{Only: []string{"a", "b"}, Skip: []string{"a"}})
	if err != nil || len(got) != 1 || got[0].ID() != "b" {
		t.Fatalf("Select = %v, %v", got, err)
	}
	if _, err := Select(all, Options{Only: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "unknown probe ID nope") {
		t.Fatalf("unknown ID not rejected: %v", err)
	}
	s := Run(context.Background(), &Env{}, all, Options{Passive: true})
	if s.Results[1].Status != StatusSkipped || s.Results[0].Status != StatusOK {
		t.Fatalf("passive run: %+v", s.Results)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"cgroups": true, "cgroups.write": true, "network.netns": true,
		"mount-prop": true, "Cgroups": false, "a..b": false, ".a": false, "a.": false, "": false, "a b": false} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
}

// TestNeededGate: a gated probe is stopped as soon as the facts of a
// finished probe make it not needed, and recorded as skipped with the
// reason in its evidence; where it is needed its result stands; in a
// passive scan the gate is not consulted; OnResult sees each probe once.
func TestNeededGate(t *testing.T) {
	stopped := make(chan struct{})
	slow := fakeProbe{id: "slow", mode: Active, run: func(ctx context.Context) (*Observation, error) {
		select {
		case <-ctx.Done():
			close(stopped)
			return obsWith("slow.x", Unknown), ctx.Err()
		case <-time.After(5 * time.Second):
			return obsWith("slow.x", Yes), nil
		}
	}}
	quick := func(v Tri) fakeProbe {
		return fakeProbe{id: "quick", mode: Passive, run: func(context.Context) (*Observation, error) { return obsWith("quick.x", v), nil }}
	}
	gate := map[string]func(Facts) (bool, string){"slow": func(f Facts) (bool, string) {
		if f.Tri("quick.x") == No {
			return false, "quick.x=no decides"
		}
		return true, ""
	}}
	count := func(seen map[string]int) func(Result) { return func(r Result) { seen[r.ID]++ } }

	seen := map[string]int{}
	start := time.Now()
	s := Run(context.Background(), &Env{}, []Probe{slow, quick(No)}, Options{Needed: gate, OnResult: count(seen)})
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("the gated probe was not stopped: the scan took %s", took)
	}
	select { // the runner does not wait for an abandoned probe's goroutine
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Error("the gated probe's context was not cancelled")
	}
	r := s.Results[0]
	if r.Status != StatusSkipped || len(r.Facts) != 0 || len(r.Evidence) != 1 || !strings.Contains(r.Evidence[0].Excerpt, "quick.x=no decides") || r.Error != "" {
		t.Errorf("not needed: got %+v", r)
	}
	if _, ok := s.Facts["slow.x"]; ok {
		t.Error("a skipped probe's fact is in the scan")
	}
	if seen["slow"] != 1 || seen["quick"] != 1 {
		t.Errorf("OnResult calls %v, want one per probe", seen)
	}

	slow.run = func(context.Context) (*Observation, error) { return obsWith("slow.x", Yes), nil }
	seen = map[string]int{}
	s = Run(context.Background(), &Env{}, []Probe{slow, quick(Yes)}, Options{Needed: gate, OnResult: count(seen)})
	if r := s.Results[0]; r.Status != StatusOK || r.Facts.Tri("slow.x") != Yes {
		t.Errorf("needed: got %+v", r)
	}
	if seen["slow"] != 1 || seen["quick"] != 1 {
		t.Errorf("OnResult calls %v, want one per probe", seen)
	}

	seen = map[string]int{}
	s = Run(context.Background(), &Env{}, []Probe{slow, quick(No)}, Options{Needed: gate, Passive: true, OnResult: count(seen)})
	if r := s.Results[0]; r.Status != StatusSkipped || r.Error != "active probe skipped (--passive)" {
		t.Errorf("passive: got %+v", r)
	}
	if seen["slow"] != 1 {
		t.Errorf("passive: OnResult calls %v, want one per probe", seen)
	}
}

// cleaningRunner is an ActiveRunner whose child, once its context ends,
// takes a while to be killed and swept (what ChildRunner does).
type cleaningRunner struct{ swept chan struct{} }

func (c cleaningRunner) RunActive(ctx context.Context, p Probe) (*Observation, error) {
	<-ctx.Done()
	time.Sleep(200 * time.Millisecond) // kill the child, sweep its cgroups
	close(c.swept)
	return nil, errors.New("active probe child: signal: killed; after the child: cgroup kprobe-full-1-x removed")
}

// The finding (issue 18): in the zoo's cgroup v2 VM the container probe
// overran its time limit and the scan ended before its child's containers
// were swept: their cgroups stayed. The scan waits for the sweep now.
func TestOverrunActiveProbeIsSweptBeforeTheScanEnds(t *testing.T) {
	r := cleaningRunner{swept: make(chan struct{})}
	ps := []Probe{fakeProbe{id: "slow", mode: Active}}
	s := Run(context.Background(), &Env{Active: r}, ps, Options{Timeout: 50 * time.Millisecond})
	select {
	case <-r.swept:
	default:
		t.Fatal("the scan returned before the overrun probe's child was swept")
	}
	if e := s.Results[0].Error; !strings.Contains(e, "did not finish within") || !strings.Contains(e, "removed") {
		t.Errorf("error %q: want the timeout and what the sweep did", e)
	}
}

// TestHoldGate: a held gated probe does not start while the hold says so
// and a probe that is not gated still runs; it is never started when the
// gate closes meanwhile, and starts once the others have finished when it
// stays open; a hold that says false from the start delays nothing.
func TestHoldGate(t *testing.T) {
	var started atomic.Int32
	gatedRun := func(context.Context) (*Observation, error) {
		started.Add(1)
		return obsWith("gated.x", Yes), nil
	}
	gated := fakeProbe{id: "gated", mode: Active, run: gatedRun}
	other := func(v Tri, wait time.Duration) fakeProbe {
		return fakeProbe{id: "other", mode: Active, run: func(context.Context) (*Observation, error) {
			time.Sleep(wait)
			if started.Load() != 0 {
				t.Error("the held probe started while the hold said so")
			}
			return obsWith("other.x", v), nil
		}}
	}
	opts := Options{
		Needed: map[string]func(Facts) (bool, string){"gated": func(f Facts) (bool, string) {
			if f.Tri("other.x") == No {
				return false, "other.x=no decides"
			}
			return true, ""
		}},
		Hold: map[string]func(Facts) Tri{"gated": func(f Facts) Tri {
			return TriOf(f.Tri("other.x") == Unknown)
		}},
	}
	s := Run(context.Background(), &Env{}, []Probe{gated, other(No, 100*time.Millisecond)}, opts)
	if started.Load() != 0 {
		t.Errorf("the held probe started %d times though its gate closed", started.Load())
	}
	if r := s.Results[0]; r.Status != StatusSkipped || !strings.Contains(r.Summary, "other.x=no decides") {
		t.Errorf("held, then not needed: got %+v", r)
	}

	s = Run(context.Background(), &Env{}, []Probe{other(Yes, 100*time.Millisecond), gated}, opts)
	if r := s.Results[1]; started.Load() != 1 || r.Status != StatusOK || r.Facts.Tri("gated.x") != Yes {
		t.Errorf("held, still needed: started %d times, got %+v", started.Load(), r)
	}

	started.Store(0)
	opts.Hold = map[string]func(Facts) Tri{"gated": func(Facts) Tri { return No }}
	early := make(chan struct{})
	gated.run = func(ctx context.Context) (*Observation, error) {
		close(early)
		return gatedRun(ctx)
	}
	slow := fakeProbe{id: "other", mode: Active, run: func(context.Context) (*Observation, error) {
		select {
		case <-early:
		case <-time.After(5 * time.Second):
			t.Error("a probe not held did not start before the others finished")
		}
		return obsWith("other.x", Yes), nil
	}}
	Run(context.Background(), &Env{}, []Probe{slow, gated}, opts)

	// Unknown: it waits for the facts the hold reads, then starts.
	var quickDone atomic.Bool
	quick := fakeProbe{id: "quick", mode: Passive, run: func(context.Context) (*Observation, error) {
		time.Sleep(50 * time.Millisecond)
		quickDone.Store(true)
		return obsWith("quick.x", No), nil
	}}
	gated.run = func(ctx context.Context) (*Observation, error) {
		if !quickDone.Load() {
			t.Error("the probe started before the facts its hold reads were there")
		}
		return gatedRun(ctx)
	}
	slow.run = func(context.Context) (*Observation, error) {
		time.Sleep(300 * time.Millisecond)
		return obsWith("other.x", Yes), nil
	}
	opts.Hold = map[string]func(Facts) Tri{"gated": func(f Facts) Tri {
		if _, ok := f["quick.x"]; !ok {
			return Unknown
		}
		return No
	}}
	started.Store(0)
	start := time.Now()
	Run(context.Background(), &Env{}, []Probe{gated, slow, quick}, opts)
	if started.Load() != 1 {
		t.Errorf("started %d times, want once", started.Load())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("scan took %s", took)
	}
}
