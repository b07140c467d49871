// Command kube-network-policies is kprobe's NetworkPolicy enforcer as a
// program of its own (package netpol has the why): launch asks it which
// queue path the kernel takes (--probe), stop removes what a killed one
// left (--cleanup), and a node runs it where kube-control-plane does not
// run the enforcer itself.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/kprobe/kprobe/hack/netpol"
)

func main() {
	klog.InitFlags(flag.CommandLine)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := netpol.Main(ctx, flag.CommandLine, os.Args[1:])
	cancel()
	os.Exit(code)
}
