//go:build !nocluster

package app

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/launch"
	"github.com/kprobe/kprobe/adapters/launchhost"
)

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newEnvCommand(s IOStreams) *cobra.Command {
	var dataDir, binDir string
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print shell commands that put the engine's kubectl and helm on PATH and set KUBECONFIG",
		Long: `env prints export lines for a POSIX shell: PATH with the directory of the
engine's kubectl (and helm) first, so the client matches the cluster's version,
and KUBECONFIG naming the admin kubeconfig of the cluster launched from
--data-dir. Use it as: eval "$(kprobe env)"`,
		Example: `  eval "$(kprobe env --data-dir /tmp/kprobe)"
  kprobe env --data-dir /tmp/kprobe        # prints the export lines`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dataDir, err := filepath.Abs(dataDir)
			if err != nil {
				return badInput("--data-dir: %v", err)
			}
			kubectl, err := launch.FindTool("kubectl", binDir)
			if err != nil {
				return badInput("%v", err)
			}
			dirs := []string{filepath.Dir(kubectl)}
			if helm, err := launch.FindTool("helm", binDir); err == nil && filepath.Dir(helm) != dirs[0] {
				dirs = append(dirs, filepath.Dir(helm))
			}
			kc := launchhost.KubeconfigPath(dataDir)
			if _, err := os.Stat(kc); err != nil {
				return badInput("no cluster was launched from %s (%s is missing); launch one with 'kprobe launch --data-dir %s'", dataDir, kc, dataDir)
			}
			fmt.Fprintf(s.Out, "export PATH=%s:\"$PATH\"\n", shellQuote(strings.Join(dirs, ":")))
			fmt.Fprintf(s.Out, "export KUBECONFIG=%s\n", shellQuote(kc))
			fmt.Fprintf(s.Out, "# eval \"$(kprobe env --data-dir %s)\"\n", shellQuote(dataDir))
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the launch's data dir")
	cmd.Flags().StringVar(&binDir, "bin-dir", "", "where the engine is (default: where launch looks)")
	return cmd
}

// newToolCommand runs the engine's kubectl or helm against the cluster of
// --data-dir (given before the tool's own arguments).
func newToolCommand(s IOStreams, tool string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   tool + " [--data-dir DIR] [--bin-dir DIR] -- ARGS...",
		Short: "Run the engine's " + tool + " with the cluster's kubeconfig",
		Long: `Runs the engine's ` + tool + ` (the one kprobe install kubernetes or make engine put
where launch looks) with KUBECONFIG set to the admin kubeconfig of the cluster
launched from --data-dir. kprobe's own flags go first; every other argument is
the tool's. The tool's exit code is kprobe's.`,
		Example:            "  kprobe " + tool + " --data-dir /tmp/kprobe -- version",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			dataDir, binDir := defaultDataDir(), ""
			if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
				return cmd.Help()
			}
			for len(args) > 0 {
				name, val, hasVal := strings.Cut(args[0], "=")
				if name != "--data-dir" && name != "--bin-dir" {
					break
				}
				if !hasVal {
					if len(args) < 2 {
						return badInput("%s needs a value", name)
					}
					val, args = args[1], args[1:]
				}
				args = args[1:]
				if name == "--data-dir" {
					dataDir = val
				} else {
					binDir = val
				}
			}
			if len(args) > 0 && args[0] == "--" {
				args = args[1:]
			}
			if len(args) == 0 {
				return badInput("%s needs the %s arguments to run (see kprobe %s --help: flags go before --)", cmd.CommandPath(), tool, tool)
			}
			bin, err := launch.FindTool(tool, binDir)
			if err != nil {
				return badInput("%v", err)
			}
			kc, err := filepath.Abs(launchhost.KubeconfigPath(dataDir))
			if err != nil {
				return badInput("--data-dir: %v", err)
			}
			if _, err := os.Stat(kc); err != nil {
				return badInput("no cluster was launched from %s (%s is missing)", dataDir, kc)
			}
			c := exec.CommandContext(cmd.Context(), bin, args...)
			c.Env = append(os.Environ(), "KUBECONFIG="+kc)
			c.Stdin, c.Stdout, c.Stderr = s.In, s.Out, s.ErrOut
			err = c.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() > 0 {
				return &ExitError{Code: ee.ExitCode(), Err: fmt.Errorf("%s exited %d", tool, ee.ExitCode())}
			}
			return err
		},
	}
	// Parsed by hand above (everything after them is the tool's), declared
	// for --help and completion.
	cmd.Flags().String("data-dir", defaultDataDir(), "the launch's data dir")
	cmd.Flags().String("bin-dir", "", "where the engine is (default: where launch looks)")
	return cmd
}
