package sysctltrace

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/adapters/bindtrace"
)

const traceSupported = true

// openPathArg returns the path argument of an open, openat or openat2
// call stopped at entry.
func openPathArg(r *syscall.PtraceRegs) (uintptr, bool) {
	switch r.Orig_rax {
	case unix.SYS_OPEN:
		return uintptr(r.Rdi), true
	case unix.SYS_OPENAT, unix.SYS_OPENAT2:
		return uintptr(r.Rsi), true
	}
	return 0, false
}

// installTraceFilter makes open, openat and openat2 of the calling thread
// (and what it execs) stop for the tracer: SECCOMP_RET_TRACE.
func installTraceFilter() error {
	return bindtrace.InstallTraceFilter(unix.SYS_OPEN, unix.SYS_OPENAT, unix.SYS_OPENAT2)
}
