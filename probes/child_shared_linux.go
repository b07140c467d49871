//go:build linux

package probes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
)

// sharedChildName is the re-exec entry point of a child that runs several
// ChildSharer probes: args DATADIR, then pairs of probe ID and temp dir.
const sharedChildName = "kprobe-active-probes"

// sharedReply is one line of a shared child's output: one probe's reply,
// printed as soon as that probe finished.
type sharedReply struct {
	ID string `json:"id"`
	childReply
}

// Prepare implements ActivePreparer: the ChildSharer probes among ps,
// when there are two or more, share one child in this scan.
func (c *ChildRunner) Prepare(ps []Probe) {
	var shared []Probe
	for _, p := range ps {
		if _, ok := p.(ChildSharer); ok {
			shared = append(shared, p)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.group = nil
	if len(shared) > 1 {
		c.group = newSharedChild(shared)
	}
}

func (c *ChildRunner) sharedFor(p Probe) *sharedChild {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.group != nil && c.group.member(p.ID()) {
		return c.group
	}
	return nil
}

// sharedChild is one child for several light probes. It starts with the
// first RunActive of a member and is killed once every member has
// returned (answered, or given up at its own time limit). A member the
// child printed no reply for (the child failed, was killed, or is a
// kprobe-probe of another build) runs alone afterwards, the way it
// always did, so a shared child can only save processes, not answers.
type sharedChild struct {
	probes  []Probe
	once    sync.Once
	cancel  context.CancelFunc
	mu      sync.Mutex
	left    int                   // members that have not returned
	replies map[string]chan reply // one per member, buffered
	exited  chan struct{}         // closed when the child ended and was swept
	swept   map[string][]Evidence // what each Sweeper member's Sweep did
}

type reply struct {
	rep childReply
	ok  bool // false: the child ended without a reply for this probe
}

func newSharedChild(ps []Probe) *sharedChild {
	g := &sharedChild{probes: ps, left: len(ps), replies: map[string]chan reply{},
		exited: make(chan struct{}), swept: map[string][]Evidence{}}
	for _, p := range ps {
		g.replies[p.ID()] = make(chan reply, 1)
	}
	return g
}

func (g *sharedChild) member(id string) bool { _, ok := g.replies[id]; return ok }

// run waits for p's reply from the shared child, starting the child on
// the first call. ok false: no reply, run p alone.
func (g *sharedChild) run(ctx context.Context, c *ChildRunner, p Probe) (*Observation, error, bool) {
	g.once.Do(func() {
		var gctx context.Context
		gctx, g.cancel = context.WithCancel(context.Background())
		c.running.Add(1)
		go func() {
			defer c.running.Done()
			g.start(gctx, c)
		}()
	})
	defer g.leave()
	var r reply
	select {
	case r = <-g.replies[p.ID()]:
	case <-ctx.Done():
		return nil, ctx.Err(), true
	}
	if !r.ok {
		return nil, nil, false
	}
	rep := r.rep
	if rep.Observation == nil {
		return nil, nil, false
	}
	if err := CoerceObservation(p, rep.Observation); err != nil {
		return nil, err, true
	}
	if _, sweeps := p.(Sweeper); sweeps {
		// What the probe created after the child's PID is swept once the
		// child has ended, as after a child of its own.
		select {
		case <-g.exited:
			g.mu.Lock()
			rep.Observation.Evidence = append(rep.Observation.Evidence, g.swept[p.ID()]...)
			g.mu.Unlock()
		case <-ctx.Done():
			return nil, ctx.Err(), true
		}
	}
	return rep.Observation, ErrFromText(rep.Error), true
}

// leave counts a member out; the last one kills the child if it still
// runs (a member that gave up at its time limit leaves it running).
func (g *sharedChild) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.left--
	if g.left == 0 {
		g.cancel()
	}
}

// start runs the child, in a private mount namespace when the sandbox
// allows one (as a child of its own would), and hands each reply to its
// member as soon as it is printed.
func (g *sharedChild) start(ctx context.Context, c *ChildRunner) {
	defer close(g.exited)
	tmps := map[string]string{}
	defer func() {
		for _, t := range tmps {
			os.RemoveAll(t)
		}
	}()
	args := []string{sharedChildName, c.DataDir}
	for _, p := range g.probes {
		tmp, err := os.MkdirTemp("", "kprobe-"+p.ID()+"-")
		if err != nil {
			g.finish()
			return
		}
		tmps[p.ID()] = tmp
		args = append(args, p.ID(), tmp)
	}
	answered := map[string]bool{}
	var mu sync.Mutex
	deliver := func(line []byte) {
		var r sharedReply
		if json.Unmarshal(line, &r) != nil || !g.member(r.ID) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !answered[r.ID] {
			answered[r.ID] = true
			g.replies[r.ID] <- reply{rep: r.childReply, ok: true}
		}
	}
	for _, newns := range []bool{true, false} {
		cmd := childCommand(c.Exe, newns, args...)
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &lineWriter{fn: deliver}, &errb
		err := runKillable(ctx, cmd)
		if cmd.Process != nil {
			g.sweep(cmd.Process.Pid, c.DataDir, tmps)
		}
		if newns && err != nil && isCloneDenied(err) && cmd.Process == nil {
			continue // no private mount namespace here: in our own
		}
		break
	}
	g.finish()
}

// sweep runs each Sweeper member's Sweep for the child pid.
func (g *sharedChild) sweep(pid int, dataDir string, tmps map[string]string) {
	for _, p := range g.probes {
		if s, ok := p.(Sweeper); ok {
			ev := sweep(s, pid, dataDir, tmps[p.ID()])
			g.mu.Lock()
			g.swept[p.ID()] = append(g.swept[p.ID()], ev...)
			g.mu.Unlock()
		}
	}
}

// finish tells every member still waiting that no reply will come.
func (g *sharedChild) finish() {
	for _, ch := range g.replies {
		select {
		case ch <- reply{}:
		default: // already answered (the buffer of one holds its reply)
		}
	}
}

// lineWriter calls fn with each complete line written to it. A line
// longer than maxReplyLine is dropped (its member then runs alone), so a
// child that writes without end cannot grow the scan's memory.
type lineWriter struct {
	buf []byte
	fn  func([]byte)
}

// maxReplyLine bounds one reply of a shared child: an observation with
// its evidence is a few KiB.
const maxReplyLine = 4 << 20

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > maxReplyLine {
				w.buf = w.buf[:0]
			}
			return len(b), nil
		}
		w.fn(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

// sharedChildMain runs several probes at once in this child, each with
// its own temp dir and time limit, and prints each one's reply as one
// JSON line when it finishes.
func sharedChildMain(all []Probe) int {
	if len(os.Args) < 4 || len(os.Args)%2 != 0 {
		fmt.Fprintln(os.Stderr, "usage: kprobe-active-probes DATADIR ID TMPDIR [ID TMPDIR]...")
		return exitUnknownProbe
	}
	byID := map[string]Probe{}
	for _, p := range all {
		byID[p.ID()] = p
	}
	dataDir := os.Args[1]
	privateMounts()
	shareVersionRuns()
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	var wg sync.WaitGroup
	var errs []error
	// The leader (ChildLeader) starts first; the others once its first op
	// has started or it returned.
	led := make(chan struct{})
	var lead sync.Once
	release := func() { lead.Do(func() { close(led) }) }
	type member struct {
		p   Probe
		tmp string
	}
	var leader *member
	var rest []member
	for i := 2; i+1 < len(os.Args); i += 2 {
		p, ok := byID[os.Args[i]]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown probe %q\n", os.Args[i])
			continue // its member runs alone
		}
		if _, leads := p.(ChildLeader); leads && leader == nil {
			leader = &member{p, os.Args[i+1]}
			continue
		}
		rest = append(rest, member{p, os.Args[i+1]})
	}
	if leader == nil {
		release()
	}
	run := func(ctx context.Context, m member, wait bool) {
		defer wg.Done()
		if wait {
			<-led
		}
		rep := runInChildCtx(ctx, m.p, dataDir, m.tmp)
		if !wait {
			release()
		}
		mu.Lock()
		defer mu.Unlock()
		if e := enc.Encode(sharedReply{ID: m.p.ID(), childReply: rep}); e != nil {
			errs = append(errs, e)
		}
	}
	if leader != nil {
		wg.Add(1)
		go run(OnOpStarted(context.Background(), release), *leader, false)
	}
	for _, m := range rest {
		wg.Add(1)
		go run(context.Background(), m, true)
	}
	wg.Wait()
	if len(errs) > 0 {
		fmt.Fprintln(os.Stderr, errors.Join(errs...))
		return 1
	}
	return 0
}
