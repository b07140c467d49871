// Package launchhost is what a launch looks up on this host before it
// starts anything: the engine's binaries and their versions, the address
// the API server would bind, whether this user can launch a rung, the
// processes of a cluster already running from a data dir. It links no
// Kubernetes client, so that the light kprobe (scan, plan, report,
// version) can answer these without client-go's package init and pages
// (research/scan-speed.md, session 10); adapters/launch uses the same
// functions.
package launchhost
