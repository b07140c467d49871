package launch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/datadir"
	"github.com/kprobe/kprobe/adapters/launch/supervisor"
	"github.com/kprobe/kprobe/adapters/shims"
	"github.com/kprobe/kprobe/adapters/supervise"
)

// The plan's shims run in two places. Host-scope shims (tmpfs-datadir,
// cgroup-evacuate) change what every process sees, so the launcher
// applies them before the engine starts and `kprobe stop` undoes them.
// Namespace shims (kmsg, rshared, fake-sysctls) change mounts only the
// engine may see: the supervisor starts in a new mount namespace and
// applies them there (adapters/launch/supervisor), so they vanish with the engine.
// runtime-wrapper is not applied through the shims package: the launcher
// writes containerd's runc wrapper itself (writeRuntimeWrapper).

// Journals of applied shims, in the data dir.
func hostJournal(dataDir string) string { return filepath.Join(dataDir, "run", "shims-host.json") }
func nsJournal(dataDir string) string   { return supervisor.NSJournal(dataDir) }

// splitShims sorts the plan's shims by where they run.
func splitShims(plan *adapters.Plan) (host, ns []string) {
	for _, s := range plan.Shims {
		sh, err := shims.Get(s.Name)
		if err != nil || s.Name == adapters.ShimRuntimeWrapper {
			continue
		}
		if sh.Scope == shims.ScopeHost {
			host = append(host, s.Name)
		} else {
			ns = append(ns, s.Name)
		}
	}
	return host, ns
}

// applyHostShims applies the host-scope shims one by one. A shim the
// sandbox refuses (no CAP_SYS_ADMIN for a tmpfs, no cgroup v2 root) is
// reported and skipped: the launch goes on without it, and if the engine
// then fails, its log signature says why. The journal is saved after
// every shim, so stop undoes what was done even if the launch dies.
func applyHostShims(ctx context.Context, dataDir string, names []string) ([]ShimOutcome, error) {
	var journal []*shims.Applied
	var out []ShimOutcome
	for _, n := range names {
		sh, _ := shims.Get(n)
		o := ShimOutcome{Name: n, Scope: string(sh.Scope)}
		a, err := sh.Apply(ctx, supervisor.ShimEnv(dataDir, false, nil))
		if err != nil {
			o.Error = err.Error()
			out = append(out, o)
			continue
		}
		o.Applied, o.Notes = !a.Empty(), a.Notes
		out = append(out, o)
		journal = append(journal, a)
		if err := shims.Save(hostJournal(dataDir), journal); err != nil {
			return out, errors.Join(err, shims.UndoAll(context.WithoutCancel(ctx), journal))
		}
	}
	return out, nil
}

// hostShimsPhase applies the plan's host-scope shims as a launch phase.
func hostShimsPhase(ctx context.Context, t *tracker, plan *adapters.Plan, o Options, res *Result) error {
	host, _ := splitShims(plan)
	if len(host) == 0 {
		return nil
	}
	end := t.begin("shims", strings.Join(host, ", "))
	var err error
	res.Shims, err = applyHostShims(ctx, o.DataDir, host)
	if err == nil && hasShimName(host, "tmpfs-datadir") {
		// A tmpfs now covers the data dir: mark it as kprobe's too.
		err = datadir.Mark(o.DataDir)
	}
	end(err)
	return err
}

// undoHostShims undoes the host shims of a launch that failed before its
// supervisor started (nothing else would: there is no cluster to stop).
func undoHostShims(ctx context.Context, dataDir string, err error) error {
	if uerr := undoShims(context.WithoutCancel(ctx), hostJournal(dataDir), func(string, ...any) {}); uerr != nil {
		return fmt.Errorf("%w (and undoing the shims: %v; run kprobe stop)", err, uerr)
	}
	return err
}

// detach starts the supervisor, in a new mount namespace when its spec
// has namespace shims to apply.
func detach(o Options, lock *os.File) (int, error) {
	spec, err := supervise.ReadSpec(o.DataDir)
	if err != nil {
		return 0, err
	}
	var attr *syscall.SysProcAttr
	if len(spec.Shims) > 0 {
		attr = shims.NamespaceAttr()
	}
	exe := o.Supervisor
	if exe == "" {
		exe = o.Self
	}
	return supervise.Detach(exe, []string{"supervise", "--data-dir", o.DataDir},
		filepath.Join(o.DataDir, "logs", "supervisor.log"), attr, lock)
}

// nsShimOutcomes reads what the supervisor's namespace shims did.
func nsShimOutcomes(dataDir string) []ShimOutcome {
	journal, _ := shims.Load(nsJournal(dataDir))
	var out []ShimOutcome
	for _, a := range journal {
		scope := ""
		if sh, err := shims.Get(a.Shim); err == nil {
			scope = string(sh.Scope)
		}
		out = append(out, ShimOutcome{Name: a.Shim, Scope: scope, Applied: !a.Empty(), Notes: a.Notes})
	}
	return out
}

// undoShims undoes a journal; mount steps of a namespace that died with
// the engine are gone already and skipped.
func undoShims(ctx context.Context, path string, say func(string, ...any)) error {
	journal, err := shims.Load(path)
	if err != nil || len(journal) == 0 {
		return err
	}
	var changed []string // Undo empties the journal as it goes
	for i := len(journal) - 1; i >= 0; i-- {
		if !journal[i].Empty() {
			changed = append(changed, journal[i].Shim)
		}
	}
	if err := shims.UndoAll(ctx, journal); err != nil {
		_ = shims.Save(path, journal) // what is left, for the next stop
		return err
	}
	for _, name := range changed {
		say("  undid shim %s", name)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func hasShimName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
