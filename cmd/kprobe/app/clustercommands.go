package app

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// ClusterExe is the binary that runs the cluster commands (launch, verify,
// stop, ...): cmd/kprobe-cluster, kprobe's full build. bin/kprobe, built
// with -tags nocluster, links no Kubernetes library, so that a scan starts
// without client-go's package init (research/scan-speed.md, session 10),
// and runs kprobe-cluster for these commands.
const ClusterExe = "kprobe-cluster"

// clusterCommandList is what the light kprobe shows of each cluster
// command (clusterCommands) in `kprobe --help` and in shell completion;
// TestClusterCommandList checks it against the commands themselves.
var clusterCommandList = []struct {
	Use, Short string
	Hidden     bool
}{
	{Use: "install ENGINE", Short: "Install an engine kprobe drives (k3s, kubernetes)"},
	{Use: "launch", Short: "Start a Kubernetes cluster that works in this sandbox and wait until a pod runs"},
	{Use: "status", Short: "Show which processes of a launched cluster run, its readiness and endpoints"},
	{Use: "logs [COMPONENT]", Short: "Print a launched cluster's logs (all components, or one)"},
	{Use: "stop", Short: "Stop a launched cluster and undo every change it made to the host"},
	{Use: "verify", Short: "Check the success criteria on a launched cluster: pods, logs, exec, Services, Helm"},
	{Use: "soak --duration D", Short: "Keep a workload running on a launched cluster and judge whether it stays stable"},
	{Use: "image", Short: "Load images into a launched cluster and list them"},
	{Use: "env", Short: "Print shell commands that put the engine's kubectl and helm on PATH and set KUBECONFIG"},
	{Use: "kubectl [--data-dir DIR] [--bin-dir DIR] -- ARGS...", Short: "Run the engine's kubectl with the cluster's kubeconfig"},
	{Use: "helm [--data-dir DIR] [--bin-dir DIR] -- ARGS...", Short: "Run the engine's helm with the cluster's kubeconfig"},
	{Use: "bundle", Short: "Pack kprobe, the engine and its images into one tarball for a machine without network"},
}

// clusterTarget is the cluster command args run ("" for any other), also
// when they ask for its help (help launch) or complete its flags and
// arguments (__complete launch --da); completing the command's name
// itself (__complete la) is the light kprobe's.
func clusterTarget(args []string) string {
	if len(args) > 0 {
		switch args[0] {
		case cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			if len(args) < 3 {
				return ""
			}
			args = args[1:]
		case "help":
			args = args[1:]
		}
	}
	if len(args) == 0 {
		return ""
	}
	for _, c := range clusterCommandList {
		if strings.Fields(c.Use)[0] == args[0] {
			return args[0]
		}
	}
	return ""
}

// execCluster replaces this process with kprobe-cluster ARGS, so that its
// exit code, output, terminal and signals are the command's, unchanged.
// It returns only when that cannot start.
func execCluster(args []string) error {
	path, err := clusterExe()
	if err != nil {
		return err
	}
	argv := append([]string{path}, args...)
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("kprobe %s: run %s: %w", args[0], path, err)
	}
	return nil
}

// clusterExe finds kprobe-cluster beside the running executable (where
// make build, the bundle and docs/install.md put it: the same build),
// else on PATH.
func clusterExe() (string, error) {
	self, err := os.Executable()
	if err == nil {
		p := filepath.Join(filepath.Dir(self), ClusterExe)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(ClusterExe); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the cluster commands (launch, verify, stop, ...) run in %s, which is neither beside %s nor on PATH: put it there (make build writes both to bin/; docs/install.md)", ClusterExe, self)
}
