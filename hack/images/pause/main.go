// Command pause is the sandbox ("pause") container of kprobe's preloaded
// registry.k8s.io/pause image. It does what the upstream pause.c does:
// it blocks until SIGINT or SIGTERM, then exits 0, and reaps every child
// it inherits (as a pod's PID 1 it is the reaper of the pod's PID
// namespace) when SIGCHLD arrives. "-v" prints its version and exits.
//
// Build it static: CGO_ENABLED=0 go build -trimpath -buildvcs=false
// -ldflags "-s -w" (hack/images/build.sh does).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is the upstream pause version this program stands in for; the
// build may override it with -ldflags "-X main.version=...".
var version = "3.10.1"

func main() {
	for _, a := range os.Args[1:] {
		if strings.EqualFold(a, "-v") {
			fmt.Printf("pause (kprobe) v%s\n", version)
			return
		}
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	// After Notify: a caller that sees the warning knows the handlers are
	// in place.
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "Shutting down, got signal: %v\n", sig)
		os.Exit(0)
	}
}

// reap collects every exited child. Signals coalesce, so one SIGCHLD may
// stand for several children: loop until none is left to collect.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
