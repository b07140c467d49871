// Package supervisor is a launch's supervisor process: the plan's
// namespace shims applied in the mount namespace it was started in, then
// the launch's processes run by adapters/supervise until stop.
//
// It links no Kubernetes library, so that the light kprobe binary (-tags
// nocluster, about 19 MB) runs it rather than kprobe-cluster (about
// 80 MB): the supervisor lives as long as the cluster, and most of a Go
// program's resident memory on an idle cluster is the pages of its own
// binary and its packages' init (research/memory-floor.md, session 12).
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/kprobe/kprobe/adapters/shims"
	"github.com/kprobe/kprobe/adapters/supervise"
)

// NSJournal is the journal of the namespace shims the supervisor applied,
// in the data dir; `kprobe stop` undoes what is left of them.
func NSJournal(dataDir string) string { return filepath.Join(dataDir, "run", "shims-ns.json") }

// ShimEnv is where the shims of a launch keep their state.
func ShimEnv(dataDir string, privateNS bool, logf func(string, ...any)) *shims.Env {
	return &shims.Env{StateDir: filepath.Join(dataDir, "run", "shims"), DataDir: dataDir, PrivateNS: privateNS, Logf: logf}
}

// Run is the supervisor: it applies the spec's namespace shims in its
// own mount namespace (the launcher started it in a new one), journals
// them, and runs the launch's processes until stop.
func Run(ctx context.Context, dataDir string, log io.Writer) error {
	spec, err := supervise.ReadSpec(dataDir)
	if err != nil {
		return err
	}
	if len(spec.Shims) > 0 {
		if err := shims.PrivateNS(); err != nil {
			return err
		}
		logf := func(format string, a ...any) { fmt.Fprintf(log, format+"\n", a...) }
		applied, err := shims.ApplyAll(ctx, ShimEnv(dataDir, true, logf), spec.Shims)
		if err != nil {
			return fmt.Errorf("apply shims %v: %w", spec.Shims, err)
		}
		if err := shims.Save(NSJournal(dataDir), applied); err != nil {
			return errors.Join(err, shims.UndoAll(context.WithoutCancel(ctx), applied))
		}
	}
	return supervise.Run(ctx, dataDir, log)
}
