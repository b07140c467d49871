// The --data-dir and --profile flags of the scan, plan and cluster commands.

package app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

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
func profileFor(cmd *cobra.Command, path, dataDir string) (*profiles.Profile, error) {
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
	out, err := doScan(cmd, &scanFlags{timeout: probes.DefaultTimeout, dataDir: dataDir})
	if err != nil {
		return nil, err
	}
	return closestBuiltin(cmd.ErrOrStderr(), out.profile), nil
}
