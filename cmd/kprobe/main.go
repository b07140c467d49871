// Command kprobe finds out whether a Kubernetes cluster can run in this
// sandbox, and what blocks it.
//
// make build builds it with -tags nocluster: the cluster commands are then
// stubs that run kprobe-cluster (cmd/kprobe-cluster) from beside this
// binary, so that a scan links no Kubernetes library. Without the tag it
// runs every command itself.
package main

import "github.com/kprobe/kprobe/cmd/kprobe/app"

func main() { app.Main() }
