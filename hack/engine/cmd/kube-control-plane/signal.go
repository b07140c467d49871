package main

import (
	_ "unsafe" // go:linkname

	_ "k8s.io/apiserver/pkg/server" // the guard below
)

// onlyOneSignalHandler is genericapiserver's guard that makes a second
// SetupSignalContext in a process panic. The API server's command calls it
// when it is made (NewAPIServerCommand) and the kubelet's as it runs; in
// one process both may have theirs: each is a signal.Notify of its own
// channel and both stop their component on SIGTERM, as they do in their
// own processes.
//
//go:linkname onlyOneSignalHandler k8s.io/apiserver/pkg/server.onlyOneSignalHandler
var onlyOneSignalHandler chan struct{}

// allowSecondSignalHandler lets the next SetupSignalContext through. It is
// called, before the kubelet's command runs, by the goroutine that made
// the API server's command, whose call has returned.
func allowSecondSignalHandler() {
	onlyOneSignalHandler = make(chan struct{})
}
