// Command kprobe-probe runs kprobe's active probes and their ops in the
// child processes a scan starts. It links the probes and nothing else, so
// that each of those children starts in a few milliseconds instead of
// paying the package initialisation of kprobe's Kubernetes client
// libraries. kprobe runs it from next to its own executable (make build
// puts it there) and re-executes itself when it is missing.
package main

import (
	"fmt"
	"os"

	"github.com/moby/sys/reexec"

	"github.com/kprobe/kprobe/probes/container"
	"github.com/kprobe/kprobe/probes/suite"
)

func main() {
	// libcontainer re-runs this binary as "<argv0> init" to start the
	// container probe's process; that must win over the re-exec names.
	container.InitIfChild()
	suite.Register()
	if reexec.Init() {
		return
	}
	fmt.Fprintln(os.Stderr, "kprobe-probe runs the active probes of `kprobe scan`; run kprobe scan instead")
	os.Exit(3)
}
