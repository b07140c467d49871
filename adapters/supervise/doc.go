// Package supervise runs a cluster's processes and outlives the command
// that launched them.
//
// `kprobe launch` writes a Spec (the processes in start order, each with a
// readiness check) into the data dir and starts a detached supervisor
// (`kprobe supervise`, hidden). The supervisor starts each process with its
// log under the data dir, waits for it to be ready before starting the
// next, restarts a process that dies (a bounded number of times) and keeps
// a State file that `kprobe status`, `logs` and `stop` read. On SIGTERM it
// stops the processes in reverse order, the store last, and exits.
//
// A lock on the data dir makes a second launch say that one is running
// instead of starting twice.
package supervise
