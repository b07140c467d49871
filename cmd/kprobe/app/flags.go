// The --data-dir and --profile flags of the scan, plan and cluster commands.

package app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/datadir"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// DefaultClusterDataDir is where the kubernetes engine keeps its state.
const DefaultClusterDataDir = "/var/lib/kprobe"

// DataDirEnv names the environment variable that replaces
// DefaultClusterDataDir as every command's --data-dir default (as
// KUBECONFIG does for kubectl): one cluster per shell without repeating
// the flag, and the docs test runs the manual's commands in a scratch dir.
const DataDirEnv = "KPROBE_DATA_DIR"

func defaultDataDir() string {
	if d := os.Getenv(DataDirEnv); d != "" {
		return d
	}
	return DefaultClusterDataDir
}

// ScanTimeoutEnv names the environment variable that replaces
// probes.DefaultTimeout as the default time limit of each probe, for
// scan --timeout and for the scans of plan and launch --profile auto
// (--scan-timeout) and of report: on a slow machine (a VM without
// hardware virtualisation starts programs several times slower) an
// active probe overran 10 s and its answer was "unknown", not the
// machine's. A value time.ParseDuration cannot read, or not positive,
// is ignored.
const ScanTimeoutEnv = "KPROBE_SCAN_TIMEOUT"

func defaultScanTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(ScanTimeoutEnv)); err == nil && d > 0 {
		return d
	}
	return probes.DefaultTimeout
}

// scanTimeoutUsage is the help of plan's and launch's --scan-timeout.
const scanTimeoutUsage = "time limit for each probe of the scan --profile auto runs (as scan --timeout; default $" + ScanTimeoutEnv + " or 10s)"

// dataDirFlag makes --data-dir absolute and refuses what must never be a
// data dir ("", /, the home directory, a symlink): adapters/datadir.
func dataDirFlag(dir string) (string, error) {
	if dir != "" && !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", badInput("--data-dir: %v", err)
		}
		dir = abs
	}
	dir, err := datadir.Validate(dir)
	if err != nil {
		return "", badInput("%v", err)
	}
	return dir, nil
}

// profileFor loads --profile (a path or builtin:NAME), or for "auto" scans
// now and overlays the scan on the closest built-in profile (plan.go).
// The scan looks at the data dir the cluster will use: its filesystem,
// free space and overlay support decide the snapshotter and more.
func profileFor(cmd *cobra.Command, path, dataDir string, scanTimeout time.Duration) (*profiles.Profile, error) {
	if path != "auto" {
		p, err := loadProfile(path)
		if err != nil || strings.HasPrefix(path, profiles.BuiltinPrefix) {
			return p, err
		}
		if err := profiles.Plannable(p); err != nil {
			var ve *profiles.ValidationError
			if errors.As(err, &ve) {
				ve.Path = path
			}
			return nil, badInput("%v\nwrite a whole profile with 'kprobe scan --write-profile %s', or plan for a built-in one with --profile builtin:NAME", err, path)
		}
		return p, nil
	}
	out, err := doScan(cmd, &scanFlags{timeout: scanTimeout, dataDir: dataDir})
	if err != nil {
		return nil, err
	}
	return closestBuiltin(cmd.ErrOrStderr(), out.profile), nil
}
