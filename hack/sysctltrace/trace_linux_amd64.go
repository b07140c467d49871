package sysctltrace

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
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
	const archX8664 = 0xc000003e // AUDIT_ARCH_X86_64
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jt: jt, Jf: jf}
	}
	ret := func(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }
	// struct seccomp_data: nr at 0, arch at 4.
	prog := []unix.SockFilter{
		ld(4),
		jeq(archX8664, 0, 4), // other arch: allow
		ld(0),
		jeq(unix.SYS_OPEN, 3, 0),
		jeq(unix.SYS_OPENAT, 2, 0),
		jeq(unix.SYS_OPENAT2, 1, 0),
		ret(unix.SECCOMP_RET_ALLOW),
		ret(unix.SECCOMP_RET_TRACE),
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	install := func() error {
		if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
			return e
		}
		return nil
	}
	err := install()
	if err == unix.EACCES {
		// Without CAP_SYS_ADMIN a filter needs no_new_privs (which the
		// target then keeps: setuid binaries it runs gain nothing).
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return err
		}
		err = install()
	}
	return err
}
