// Package container proves that a real container can start here.
//
// Every other probe looks at one ingredient (namespaces, mounts, cgroups,
// devices); a kubelet needs all of them at once, in the order runc uses
// them. This active probe therefore starts a minimal container with runc's
// libcontainer, the code containerd's runc shim runs, and reports which
// configuration works: full isolation with cgroups, the same without
// cgroups (what a kubelet with cgroups-per-qos=false asks of runc), or
// rootless (inside a user namespace, as k3s --rootless runs it).
//
// The container's rootfs is built in the probe's temp dir: the running
// binary bind-mounted read-only at /kprobe-op (plus the library
// directories when the binary is dynamically linked), a proc and a /dev
// tmpfs. The container process is that binary re-executed as the
// "kprobe-op" entry point running the op "container.hello", which prints
// "ok" when it runs as pid 1 of its own PID namespace.
//
// libcontainer starts the container's init by re-executing the binary with
// the argument "init"; InitIfChild must be the first call of main (and of
// TestMain) so that this init runs before anything else.
package container
