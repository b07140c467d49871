// Command kprobe-supervisor runs a launch's processes for the cluster's
// lifetime (adapters/launch/supervisor) and nothing else. Launch starts it
// as `kprobe-supervisor supervise --data-dir DIR`, the command line of the
// light kprobe's hidden `supervise`, where it is beside kprobe-cluster
// (make build puts it there). It links the supervisor alone, not kprobe's
// scan, plan and report packages: it lives as long as the cluster, and
// the light kprobe's pages made it about 23 MiB resident
// (research/memory-floor.md, session 13).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kprobe/kprobe/adapters/launch/supervisor"
	"github.com/kprobe/kprobe/adapters/shims"
)

const usage = "usage: kprobe-supervisor supervise --data-dir DIR (started by kprobe launch)"

func main() {
	// The shims' re-executed modes, as kprobe's main has them first: a
	// shim that names its own executable gets this one.
	if code, ok := shims.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	if len(os.Args) < 2 || os.Args[1] != "supervise" {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	fs := flag.NewFlagSet("kprobe-supervisor supervise", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "the launch's data dir")
	if err := fs.Parse(os.Args[2:]); err != nil || fs.NArg() > 0 || *dataDir == "" {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := supervisor.Run(ctx, *dataDir, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kprobe-supervisor: "+err.Error())
		os.Exit(1)
	}
}
