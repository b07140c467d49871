// Command kprobe-cluster is kprobe with the cluster commands (launch,
// verify, stop, status, logs, soak, install, image, env, kubectl, helm,
// bundle, and the supervisor and runtime-wrapper shim a launch starts as
// itself). bin/kprobe, built with -tags nocluster, runs it for those: they
// link the Kubernetes client libraries, which would slow every scan.
// Built without that tag, cmd/kprobe is the same program as this one.
package main

import "github.com/kprobe/kprobe/cmd/kprobe/app"

func main() { app.Main() }
