//go:build !nocluster

package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/soak"
	"github.com/kprobe/kprobe/profiles"
)

func newSoakCommand(s IOStreams) *cobra.Command {
	var dataDir, output, out string
	var duration, interval time.Duration
	cmd := &cobra.Command{
		Use:   "soak --duration D",
		Short: "Keep a workload running on a launched cluster and judge whether it stays stable",
		Long: `soak runs a small workload on a launched cluster for --duration, in the namespace
kprobe-soak (deleted at the end, also on Ctrl-C):

  deployment-cycle  a Deployment scaled 1→3→1, cycle after cycle
  logs              a pod logging a line per second, followed through the API
  service           a Service under a bounded load from a client pod
  storage           writes to a PersistentVolumeClaim of the default
                    StorageClass, the writer pod recreated periodically
                    (skipped when the cluster has no default StorageClass)

Every --interval it samples component restarts (the supervisor's state),
API latency, the resident memory of every component, failed probes and
leaked processes (containerd shims beyond pods, processes of deleted pods).

The verdict: zero restarts, zero failed probes, memory flat (the last
quarter's mean within 20% or 10 MiB of the first quarter's, after a warm-up
of a tenth of the duration, at least 30 s), nothing leaked, the whole
duration run. -o json prints every sample; the result is also saved as
DATA-DIR/run/soak.json. Progress goes to stderr.

Exit codes: 0 stable, 2 not stable (or interrupted), 3 no cluster running or
bad flags, 1 internal error.`,
		Example: `  kprobe soak --duration 3m
  kprobe soak --duration 1h --interval 30s -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration <= 0 {
				return badInput("soak needs --duration, e.g. --duration 3m")
			}
			if interval < time.Second || interval > duration {
				return badInput("--interval must be between 1s and --duration, got %s", interval)
			}
			if output != "text" && output != "json" {
				return badInput("--output must be text or json, got %q", output)
			}
			res, err := soak.Run(cmd.Context(), soak.Options{
				DataDir: dataDir, Duration: duration, Interval: interval, Progress: s.ErrOut,
			})
			if errors.Is(err, soak.ErrNotRunning) {
				return badInput("%v", err)
			}
			if err != nil {
				return err
			}
			data, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				return err
			}
			data = append(data, '\n')
			if err := profiles.WriteAtomic(soak.ResultPath(dataDir), data, false); err != nil {
				fmt.Fprintf(s.ErrOut, "kprobe: could not save the soak for 'kprobe report': %v\n", err)
			}
			if out != "" {
				if err := profiles.WriteAtomic(out, data, false); err != nil {
					return err
				}
			}
			if output == "json" {
				if _, err := s.Out.Write(data); err != nil {
					return err
				}
			} else if err := soak.WriteText(s.Out, res); err != nil {
				return err
			}
			if !res.Verdict.OK {
				var failed []string
				for _, c := range res.Verdict.Criteria {
					if c.Outcome != soak.Pass {
						failed = append(failed, c.Name)
					}
				}
				return &ExitError{Code: ExitBlockers, Err: fmt.Errorf("not stable: %s", strings.Join(failed, ", "))}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", 0, "how long to keep the workload running and sampling (required)")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "time between samples")
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the launch's data dir")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().StringVar(&out, "out", "", "also write the JSON result to this file (atomically)")
	return cmd
}
