//go:build !nocluster

package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/install"
	"github.com/kprobe/kprobe/adapters/launch"
	"github.com/kprobe/kprobe/probes"
)

func newBundleCommand(s IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Pack kprobe, the engine and its images into one tarball for a machine without network",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var binDir string
	create := &cobra.Command{
		Use:   "create FILE",
		Short: "Write kprobe, the kubernetes engine and its image archives into FILE (.tar or .tar.gz)",
		Long: `bundle create packs this kprobe (with kprobe-cluster, kprobe-probe and
kprobe-node-agent from beside it), the kubernetes engine that launch would use
(found as launch finds it: --bin-dir, kprobe's bin/engine, the install dir, PATH,
with the CNI plugins and the image archives), and a SHA256SUMS of them into FILE,
and writes FILE.sha256. On the machine without network:
  kprobe install --from FILE [--bin-dir DIR]
checks every file and installs all of it into DIR (default
~/.local/share/kprobe/engine), kprobe included.`,
		Example: "  kprobe bundle create kprobe-bundle.tar.gz",
		Args:    exactArgs(1, "the file to write (.tar or .tar.gz)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := launch.EngineFiles(binDir)
			var me *launch.MissingError
			if errors.As(err, &me) {
				return badInput("%v", err)
			}
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			files["kprobe"] = self
			// The light kprobe this kprobe-cluster runs for, and the active
			// probes' and the process pods' binaries, which kprobe looks for
			// beside itself.
			for _, n := range append([]string{"kprobe", ClusterExe, probes.ProbeChildName, launch.NodeAgentName}, launch.SupervisorNames...) {
				if p := filepath.Join(filepath.Dir(self), n); isFile(p) {
					files[n] = p
				}
			}
			if err := install.CreateBundle(args[0], files); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "wrote %s (%d files) and %s.sha256\n", args[0], len(files), args[0])
			return nil
		},
	}
	create.Flags().StringVar(&binDir, "bin-dir", "", "take the engine from this directory first")
	cmd.AddCommand(create)
	return cmd
}

// installBundle is `kprobe install --from FILE`.
func installBundle(s IOStreams, file, dir string) error {
	if dir == "" {
		d, err := install.EngineDir()
		if err != nil {
			return badInput("%v", err)
		}
		dir = d
	}
	err := install.InstallBundle(file, dir)
	if errors.Is(err, install.ErrInput) {
		return &ExitError{Code: ExitBadInput, Err: err}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "installed kprobe and the kubernetes engine in %s\n", dir)
	fmt.Fprintf(s.Out, "launch with: %s/kprobe launch --engine kubernetes\n", dir)
	return nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
