//go:build nocluster

package app

import "github.com/spf13/cobra"

// clusterCommands are stubs of the commands kprobe-cluster runs, with the
// names and one-line help `kprobe --help` and shell completion list. Run
// hands every command line that names one of them to kprobe-cluster
// before cobra parses it (clusterTarget), so a stub's RunE only runs
// where that was bypassed; it does the same.
func clusterCommands(s IOStreams) []*cobra.Command {
	var cmds []*cobra.Command
	for _, c := range clusterCommandList {
		cmds = append(cmds, &cobra.Command{
			Use: c.Use, Short: c.Short, Hidden: c.Hidden,
			DisableFlagParsing: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				return execCluster(append([]string{cmd.Name()}, args...))
			},
		})
	}
	return cmds
}

// clusterElsewhere says whether the cluster commands run in another
// binary: in kprobe-cluster.
const clusterElsewhere = true
