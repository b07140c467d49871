package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/signatures"
	"github.com/kprobe/kprobe/profiles"
)

// LadderOptions tune the fallback ladder.
type LadderOptions struct {
	Engine string
	// NoProcessPods keeps the ladder off TP (launch --process-pods=false).
	NoProcessPods bool
	// MaxAttempts bounds the restarts; 0 means 4.
	MaxAttempts int
	// Diagnose reads the logs of a failed attempt; nil diagnoses nothing
	// (the launch then fails at its first error).
	Diagnose func(logDir string) *Diagnosis
	// Say reports each decision to the user.
	Say io.Writer
	// Run starts one attempt; Upstream or K3s.
	Run func(ctx context.Context, plan *adapters.Plan, o Options) (*Result, error)
}

// action is the signature action the diagnosis carries, for the ladder's
// decision (signatures.Next); nil for no diagnosis.
func action(d *Diagnosis) *signatures.Action {
	if d == nil {
		return nil
	}
	a := &signatures.Action{Kind: signatures.Fatal, Settings: d.Remedy, Shims: d.Shims, AtMost: d.AtMost}
	switch {
	case len(d.Remedy)+len(d.Shims) > 0:
		a.Kind = signatures.Remedy
	case d.StepDown:
		a.Kind = signatures.StepDown
	}
	return a
}

// Ladder launches, and after each failed attempt asks the plan layer
// (signatures.Next) what runs next: the same rung with a remedy, a lower
// rung, or nothing. It is build, run, decide: until a launch is ready,
// the failure is unknown or fatal, the ladder ends at T3, or MaxAttempts
// is reached. Every attempt is returned with the line that ended it.
func Ladder(ctx context.Context, prof *profiles.Profile, o Options, lo LadderOptions, rung profiles.Rung) ([]Attempt, error) {
	if lo.MaxAttempts <= 0 {
		lo.MaxAttempts = 4
	}
	if lo.Say == nil {
		lo.Say = io.Discard
	}
	po := adapters.Options{Engine: lo.Engine, DataDir: o.DataDir, Rung: rung, NoProcessPods: lo.NoProcessPods}
	// Remedies found by earlier attempts at the current rung.
	var remedies []adapters.Setting
	var shims []adapters.Shim
	var attempts []Attempt
	// The cluster state this launch's attempts make, not a kept one.
	etcdDir := filepath.Join(o.DataDir, "etcd")
	_, statErr := os.Stat(etcdDir)
	ownEtcd := errors.Is(statErr, os.ErrNotExist)
	for i := 0; i < lo.MaxAttempts; i++ {
		plan, err := adapters.Build(prof, po)
		if err != nil {
			return attempts, err
		}
		plan.Settings = mergeSettings(plan.Settings, remedies)
		plan.Shims = append(plan.Shims, shims...)
		a := Attempt{Rung: plan.Rung}
		for _, r := range remedies {
			a.Remedies = append(a.Remedies, r.String())
		}
		res, err := lo.Run(ctx, plan, o)
		a.Result = res
		if err == nil {
			a.Ready = true
			attempts = append(attempts, a)
			return attempts, nil
		}
		a.Error = err.Error()
		if ctx.Err() != nil { // interrupted: no next attempt
			attempts = append(attempts, a)
			return attempts, err
		}
		var d *Diagnosis
		if !errors.As(err, &d) && lo.Diagnose != nil {
			d = lo.Diagnose(o.DataDir + "/logs")
		}
		a.Diagnosis = d
		attempts = append(attempts, a)
		var pe *PreflightError
		var me *MissingError
		if errors.As(err, &pe) || errors.As(err, &me) || ctx.Err() != nil {
			return attempts, err
		}
		next := signatures.Next(plan, action(d), po.Allows)
		if !next.Retries() {
			if d != nil && action(d).Kind != signatures.Fatal {
				return attempts, fmt.Errorf("%w; the ladder ends at %s", err, plan.Rung)
			}
			return attempts, err
		}
		if d != nil {
			fmt.Fprintf(lo.Say, "kprobe: attempt %d at %s failed: %s\nkprobe:   %s log: %s\nkprobe:   fix: %s\n", i+1, plan.Rung, d.Diagnosis, d.Component, d.Line, d.Fix)
		} else {
			fmt.Fprintf(lo.Say, "kprobe: attempt %d at %s failed: %v\n", i+1, plan.Rung, err)
		}
		if next.Why != "" {
			fmt.Fprintf(lo.Say, "kprobe:   remedy %s\n", next.Why)
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if serr := Stop(sctx, o.DataDir, false, io.Discard); serr != nil && !errors.Is(serr, ErrNotRunning) {
			fmt.Fprintf(lo.Say, "kprobe:   stopping the attempt: %v\n", serr)
		}
		cancel()
		// The next attempt's signatures must come from its own lines.
		if rerr := keepLogs(o.DataDir, i+1); rerr != nil {
			fmt.Fprintf(lo.Say, "kprobe:   keeping the attempt's logs: %v\n", rerr)
		}
		if next.Rung == plan.Rung {
			remedies = mergeSettings(remedies, next.Settings)
			shims = append(shims, next.Shims...)
			fmt.Fprintf(lo.Say, "kprobe:   retrying %s with the remedy\n", plan.Rung)
			continue
		}
		// Remedies are for the worker of the rung that failed: a rung
		// without a kubelet (TP, T3) gets none of them.
		if next.Rung == profiles.TP || next.Rung == profiles.T3 {
			remedies, shims = nil, nil
		}
		// TP's ClusterIPs are loopback (upstream.ProcessPodsServiceCIDR):
		// etcd's default ServiceCIDR from a rung above would keep handing
		// out addresses no process pod reaches, so state this launch made
		// goes.
		if next.Rung == profiles.TP && !plan.ProcessPods() && ownEtcd {
			if rerr := os.RemoveAll(etcdDir); rerr != nil {
				fmt.Fprintf(lo.Say, "kprobe:   removing the attempt's etcd data: %v\n", rerr)
			}
		}
		po.Rung = next.Rung
		fmt.Fprintf(lo.Say, "kprobe:   stepping down to %s: %s\n", next.Rung, profiles.RungTitle[next.Rung])
	}
	return attempts, fmt.Errorf("no attempt succeeded after %d tries", lo.MaxAttempts)
}

// keepLogs moves an attempt's component logs to logs/attempt-N/: the
// components append to their logs, and the next attempt's watcher and
// diagnosis must not read this attempt's failure again.
func keepLogs(dataDir string, n int) error {
	logs := filepath.Join(dataDir, "logs")
	files, err := filepath.Glob(filepath.Join(logs, "*.log"))
	if err != nil || len(files) == 0 {
		return err
	}
	dir := filepath.Join(logs, fmt.Sprintf("attempt-%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Rename(f, filepath.Join(dir, filepath.Base(f))); err != nil {
			return err
		}
	}
	return nil
}

// mergeSettings overrides base's settings with extra's by component and name.
func mergeSettings(base, extra []adapters.Setting) []adapters.Setting {
	out := append([]adapters.Setting{}, base...)
	for _, e := range extra {
		replaced := false
		for i := range out {
			if out[i].Component == e.Component && out[i].Name == e.Name {
				out[i], replaced = e, true
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	return out
}
