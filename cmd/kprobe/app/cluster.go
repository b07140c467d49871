//go:build !nocluster

package app

import "github.com/spf13/cobra"

// clusterCommands are the commands that start, check and stop a cluster.
// They link the Kubernetes client libraries (client-go's schemes: 285
// packages whose init and pages every start of the binary pays for), so
// bin/kprobe is built with -tags nocluster and has stubs for them
// instead (stubs.go) that run bin/kprobe-cluster, this full build.
func clusterCommands(s IOStreams) []*cobra.Command {
	return []*cobra.Command{
		newInstallCommand(s), newLaunchCommand(s), newStatusCommand(s), newLogsCommand(s),
		newStopCommand(s), newVerifyCommand(s), newSoakCommand(s),
		newImageCommand(s), newEnvCommand(s), newToolCommand(s, "kubectl"), newToolCommand(s, "helm"),
		newBundleCommand(s),
	}
}

// clusterElsewhere says whether the cluster commands run in another
// binary: not in this one, which has them all.
const clusterElsewhere = false
