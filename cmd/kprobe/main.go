// Command kprobe finds out whether a Kubernetes cluster can run in this
// sandbox, and what blocks it.
package main

import "github.com/kprobe/kprobe/cmd/kprobe/app"

func main() { app.Main() }
