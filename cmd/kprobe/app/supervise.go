package app

import (
	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/launch/supervisor"
)

// newSuperviseCommand is the supervisor a launch starts. It is in both
// builds: launch starts it as the light kprobe where that is beside
// kprobe-cluster, so that the process that lives as long as the cluster
// maps no Kubernetes library (adapters/launch/supervisor).
func newSuperviseCommand(s IOStreams) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:    "supervise",
		Short:  "Run a launch's processes (started by kprobe launch)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return supervisor.Run(cmd.Context(), dataDir, s.ErrOut)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the launch's data dir")
	return cmd
}
