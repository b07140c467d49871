package launch

import (
	"context"
	"os"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// An engine's launch is an ordered list of named phases (as kind's
// create runs its []Action), run by one runner with the same progress,
// result record and failure handling: the kubernetes engine's list is
// upstreamPhases, k3s's k3sPhases. A new engine is a new list that reuses
// the shared phases (host shims, supervisor, finish), not a new copy of
// the sequence.

// phase is one step of a launch.
type phase struct {
	// name and detail label the step in the progress and in the result
	// (Result.Phases); a step without a name records nothing itself (it
	// starts background work, waits for it, or records its own phases).
	name, detail string
	// fail is what a failure of this step leaves behind.
	fail onFailure
	do   func(ctx context.Context, r *phaseContext) error
}

// onFailure says what a step's failure does to what the launch started.
type onFailure int

const (
	// failReturn: nothing the launch started outlives the step (or the
	// step undid its own part).
	failReturn onFailure = iota
	// failUndoShims: the host shims are applied and no process runs: undo
	// them, no cluster is there to stop.
	failUndoShims
	// failLeaveRunning: the supervisor runs the cluster; it is left running
	// for `kprobe logs` and `kprobe stop`, and the error says so.
	failLeaveRunning
)

// phaseContext is what an engine's phases share (kind's ActionContext): the
// attempt's plan, options and record, and what earlier phases found or
// started.
type phaseContext struct {
	plan *adapters.Plan
	o    Options
	res  *Result
	t    *tracker

	// lock is the data dir's lock from the preflight, held until the
	// supervisor (which inherits it) runs.
	lock *os.File
	// failed reports a failure seen by the supervisor's and logs' watchers
	// once the supervisor runs.
	failed *failure
	// cl talks to the API server once it answers.
	cl *client

	// The kubernetes engine's state (upstreamPhases).
	bins                 upstream.Binaries
	ctr                  string
	pauseTar, busyboxTar string
	nodeName             string
	rendered             *upstream.Rendered
	imported             chan error
	workers              *workers
	addonsDone           <-chan struct{}

	// k3s's state (k3sPhases).
	k3sBin string
}

// runPhases runs an engine's phases in order; the first failure ends the
// launch as its phase says (onFailure).
func runPhases(ctx context.Context, r *phaseContext, phases []phase) (*Result, error) {
	defer func() { closeLock(r.lock) }()
	for _, p := range phases {
		end := func(error) {}
		if p.name != "" {
			end = r.t.begin(p.name, p.detail)
		}
		err := p.do(ctx, r)
		end(err)
		if err == nil {
			continue
		}
		switch p.fail {
		case failUndoShims:
			err = undoHostShims(ctx, r.o.DataDir, err)
		case failLeaveRunning:
			err = leftRunning(err, r.o.DataDir)
		}
		return r.res, err
	}
	return r.res, nil
}

// hostShimsStep applies the plan's host shims (it records its own
// "shims" phase when there are any).
func hostShimsStep() phase {
	return phase{do: func(ctx context.Context, r *phaseContext) error {
		return hostShimsPhase(ctx, r.t, r.plan, r.o, r.res)
	}}
}

// supervisorPhase starts the supervisor on the spec the prepare phase
// wrote, and watches it and the components' logs for a failure.
func supervisorPhase(detail string) phase {
	return phase{name: "supervisor", detail: detail, do: func(ctx context.Context, r *phaseContext) error {
		pid, err := detach(r.o, r.lock)
		if err != nil {
			return err
		}
		r.failed = newFailure()
		go watchSupervisor(ctx, r.t, r.o.DataDir, pid, r.failed)
		watchLogs(ctx, r.o, r.failed)
		return nil
	}}
}
