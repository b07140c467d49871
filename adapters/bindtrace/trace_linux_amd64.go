package bindtrace

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Supported says whether this build can trace.
const Supported = true

// maxSockaddr bounds what is read of a tracee's sockaddr.
const maxSockaddr = 128

// Exec runs path with argv and env as the traced child of the calling
// process, rewriting its binds and connects to own (Rewrite), and returns
// its exit code (128+signal when a signal killed it) once it exits; the
// processes it left behind are killed then (PTRACE_O_EXITKILL), as a
// container's are when its first process exits. As pid 1 of a pid
// namespace, the caller passes the signals it gets (SIGTERM from the
// agent) on to the child. Connects are then moved by shift (Shift.Apply).
func Exec(path string, argv, env []string, own netip.Addr, keep []netip.AddrPort, shift Shift) (int, error) {
	runtime.LockOSThread() // ptrace requests must come from the tracer thread
	defer runtime.UnlockOSThread()
	// The filter goes on this thread only and is inherited by the child;
	// this thread makes no bind or connect.
	seccompMode := installFilter() == nil
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return -1, err
	}
	go func() {
		for s := range sigs {
			// As pid 1 of a pid namespace the caller alone gets the
			// agent's signals; otherwise its process group gets them,
			// the child included.
			if os.Getpid() == 1 {
				_ = syscall.Kill(pid, s.(syscall.Signal))
			}
		}
	}()
	return loop(pid, own, keep, shift, seccompMode)
}

// loop handles the stops of every tracee until pid exits.
func loop(pid int, own netip.Addr, keep []netip.AddrPort, shift Shift, seccompMode bool) (int, error) {
	type tracee struct{ started, inSys bool }
	tracees := map[int]*tracee{}
	first := true
	resume := func(tid, sig int) {
		if seccompMode {
			_ = syscall.PtraceCont(tid, sig)
		} else {
			_ = syscall.PtraceSyscall(tid, sig)
		}
	}
	for {
		var ws syscall.WaitStatus
		tid, err := syscall.Wait4(-1, &ws, unix.WALL, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("bindtrace: wait: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			delete(tracees, tid)
			if tid == pid {
				if ws.Signaled() {
					return 128 + int(ws.Signal()), nil
				}
				return ws.ExitStatus(), nil
			}
			continue
		}
		if !ws.Stopped() {
			continue
		}
		t := tracees[tid]
		if t == nil {
			t = &tracee{}
			tracees[tid] = t
		}
		sig, event := ws.StopSignal(), int(ws)>>16
		switch {
		case first && tid == pid:
			// The stop at the child's exec: options once.
			first, t.started = false, true
			opts := syscall.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_EXITKILL | syscall.PTRACE_O_TRACECLONE |
				syscall.PTRACE_O_TRACEFORK | syscall.PTRACE_O_TRACEVFORK | syscall.PTRACE_O_TRACEEXEC
			if seccompMode {
				opts |= unix.PTRACE_O_TRACESECCOMP
			}
			if err := syscall.PtraceSetOptions(tid, opts); err != nil {
				_ = syscall.Kill(tid, syscall.SIGKILL)
				return -1, fmt.Errorf("bindtrace: ptrace options: %w", err)
			}
			resume(tid, 0)
		case sig == syscall.SIGTRAP && event == unix.PTRACE_EVENT_SECCOMP:
			rewriteCall(tid, own, keep, shift)
			resume(tid, 0)
		case sig == syscall.SIGTRAP|0x80:
			if !t.inSys {
				rewriteCall(tid, own, keep, shift)
			}
			t.inSys = !t.inSys
			resume(tid, 0)
		case sig == syscall.SIGTRAP && event != 0:
			// exec, clone, fork, vfork: new tracees report on their own.
			resume(tid, 0)
		case sig == syscall.SIGSTOP && !t.started:
			t.started = true
			resume(tid, 0)
		default:
			resume(tid, int(sig)) // a signal for the tracee
		}
	}
}

// rewriteCall rewrites the address of a bind or connect stopped at entry.
func rewriteCall(tid int, own netip.Addr, keep []netip.AddrPort, shift Shift) {
	var regs syscall.PtraceRegs
	if syscall.PtraceGetRegs(tid, &regs) != nil {
		return
	}
	if regs.Orig_rax != unix.SYS_BIND && regs.Orig_rax != unix.SYS_CONNECT {
		return
	}
	addr, n := uintptr(regs.Rsi), int(regs.Rdx)
	if n <= 0 || n > maxSockaddr {
		return
	}
	sa := make([]byte, n)
	if c, err := syscall.PtracePeekData(tid, addr, sa); err != nil || c != n {
		return
	}
	if regs.Orig_rax == unix.SYS_BIND {
		keep = nil
	}
	out, changed := Rewrite(sa, own, keep)
	if regs.Orig_rax == unix.SYS_CONNECT {
		var moved bool
		out, moved = shift.Apply(out)
		changed = changed || moved
	}
	if changed {
		_, _ = syscall.PtracePokeData(tid, addr, out)
	}
}

// installFilter makes bind and connect of the calling thread (and what it
// starts) stop for the tracer.
func installFilter() error { return InstallTraceFilter(unix.SYS_BIND, unix.SYS_CONNECT) }

// InstallTraceFilter makes the given x86-64 system calls of the calling
// thread (and what it starts) stop for a ptrace tracer: SECCOMP_RET_TRACE.
// Calls of another architecture and every other call are allowed.
func InstallTraceFilter(nrs ...uint32) error {
	const archX8664 = 0xc000003e // AUDIT_ARCH_X86_64
	ld := func(off uint32) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
	}
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: k, Jt: jt, Jf: jf}
	}
	ret := func(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }
	n := len(nrs)
	if n == 0 || n > 250 {
		return fmt.Errorf("bindtrace: %d system calls to trace", n)
	}
	// struct seccomp_data: nr at 0, arch at 4. Each match jumps over the
	// matches after it and the allow to the trace.
	prog := []unix.SockFilter{ld(4), jeq(archX8664, 0, uint8(n+1)), ld(0)}
	for i, nr := range nrs {
		prog = append(prog, jeq(nr, uint8(n-i), 0))
	}
	prog = append(prog, ret(unix.SECCOMP_RET_ALLOW), ret(unix.SECCOMP_RET_TRACE))
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	install := func() error {
		if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
			return e
		}
		return nil
	}
	err := install()
	if errors.Is(err, unix.EACCES) {
		// Without CAP_SYS_ADMIN a filter needs no_new_privs (which the
		// traced program then keeps: setuid binaries it runs gain nothing).
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return err
		}
		err = install()
	}
	return err
}
