// Package bindtrace gives each process pod a loopback address of its own
// in a sandbox that has one network namespace and no CAP_NET_ADMIN
// (rung TP, research/networking.md). It runs the pod's command under
// ptrace and rewrites the address of the command's bind(2) and connect(2)
// calls at syscall entry, in the tracee's memory:
//
//   - a bind to all addresses or to loopback (0.0.0.0, 127.0.0.1, ::,
//     ::1) binds the pod's own address instead (127.244.0.7 for pod IP
//     10.244.0.7), so two pods listening on the same port do not collide;
//   - a connect to loopback (127.0.0.1, ::1, 0.0.0.0) reaches the pod's own
//     address, so "localhost" is the pod's, as in a network namespace.
//
// IPv6 sockets get the IPv4-mapped form of the address (a dual-stack
// socket accepts it; a socket set IPV6_V6ONLY fails the bind). The
// caller's sockaddr stays rewritten after the call (no memory is
// allocated in the tracee).
//
// A seccomp filter returning SECCOMP_RET_TRACE for bind and connect limits
// the stops to those calls; where the filter cannot be installed every
// syscall stops (PTRACE_SYSCALL). gVisor implements both ptrace and
// SECCOMP_RET_TRACE but not seccomp user notification, which is why the
// tracer is ptrace (hack/sysctltrace measured the same mechanism in every
// sandbox of the zoo). linux/amd64 only.
package bindtrace
