//go:build linux

package sysctltrace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/adapters/shims"
)

// A userspace trick for sandboxes where fake-sysctls cannot mount (no
// CAP_SYS_ADMIN) or no private namespace is possible: run the process
// under ptrace and redirect its opens of chosen /proc/sys files to fake
// files. gVisor (runsc 20221219) refuses seccomp user notification
// (SECCOMP_FILTER_FLAG_NEW_LISTENER: EINVAL) but implements ptrace, so the
// redirector uses ptrace; a seccomp SECCOMP_RET_TRACE filter on open,
// openat and openat2 limits the stops to those calls where the kernel
// supports it, else every syscall stops (PTRACE_SYSCALL).
//
// The redirect rewrites the path in the tracee's memory: the fake tree
// lives at a directory whose name is no longer than "/proc/sys", padded
// with slashes to the same length ("/tmp/kp3f/kernel/panic"), so only the
// prefix changes and no memory has to be allocated in the tracee. The
// rewritten string stays rewritten (Go callers pass a temporary copy; a C
// literal then names the fake file for good, which is the same answer).
// Paths relative to a directory fd are not redirected.

// TraceExecArg is the argument (after the program name) that makes a
// binary run TraceExecMain: a program that uses the Redirector calls
// TraceExecMain first in main when os.Args[1] is TraceExecArg.
const TraceExecArg = "kprobe-trace-exec"

const traceExecName = TraceExecArg

// traceReadyPath is opened by the helper once its filter is in place: the
// tracer seeing it knows SECCOMP_RET_TRACE works.
const traceReadyPath = "/kprobe-trace-ready"

// Redirector runs a command with some /proc/sys files answered from fakes.
type Redirector struct {
	// Fakes maps dotted sysctl names to values. Only entries that are
	// missing or cannot be written are redirected (as fake-sysctls).
	Fakes map[string]string
	// Self is the executable that runs TraceExecMain when called with
	// TraceExecArg first; "" means os.Executable().
	Self string
	// Mode is "seccomp" (RET_TRACE filter, fall back to syscall),
	// "syscall" (every syscall stops) or "" (seccomp).
	Mode string
	// Logf receives what the redirector decides.
	Logf func(string, ...any)

	// Filled by Run.
	Stats TraceStats
	dir   string
	fakes map[string]bool // rel paths redirected
}

// TraceStats count what the tracer saw.
type TraceStats struct {
	Mode       string        // what ran: seccomp or syscall
	Stops      int64         // ptrace stops handled
	Opens      int64         // open calls inspected
	Redirected int64         // opens sent to a fake
	Tracees    int64         // threads and processes traced
	Elapsed    time.Duration // from start to the last exit
}

func (r *Redirector) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

const procSysPrefix = "/proc/sys"

// prepare builds the fake tree for the entries that need one.
func (r *Redirector) prepare() error {
	fakes, notes := shims.PlanSysctlFakes(procSysPrefix, r.Fakes)
	for _, n := range notes {
		r.logf("%s", n)
	}
	r.fakes = map[string]bool{}
	if len(fakes) == 0 {
		return nil
	}
	var err error
	for _, base := range []string{"/tmp", "/run", ""} {
		if r.dir, err = makeShortDir(base); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("no directory with a name of at most %d characters for the fakes: %w", len(procSysPrefix), err)
	}
	for _, e := range fakes {
		p := filepath.Join(r.dir, e.Rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(e.Value+"\n"), 0o644); err != nil {
			return err
		}
		r.fakes[e.Rel] = true
	}
	return nil
}

// makeShortDir creates base/kpXX with a name no longer than "/proc/sys".
func makeShortDir(base string) (string, error) {
	var last error
	for i := 0; i < 64; i++ {
		d := fmt.Sprintf("%s/kp%02x", base, (os.Getpid()+i)&0xff)
		if len(d) > len(procSysPrefix) {
			return "", fmt.Errorf("%s is too long", d)
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			last = err
			continue
		}
		return d, nil
	}
	return "", last
}

// rewrite returns the replacement for an absolute path that names a
// redirected entry, with the same length, or "".
func (r *Redirector) rewrite(p string) string {
	rest, ok := strings.CutPrefix(p, procSysPrefix+"/")
	if !ok || path.Clean(p) != p || !r.fakes[rest] {
		return ""
	}
	pad := strings.Repeat("/", len(procSysPrefix)-len(r.dir))
	return r.dir + pad + "/" + rest
}

// Run starts argv (argv[0] an absolute path) with env and files as fds
// 0, 1, 2... under the redirector and waits for it and every process it
// started to exit. It returns the exit code of argv's process. The fake
// tree is removed afterwards.
func (r *Redirector) Run(ctx context.Context, argv, env []string, files []*os.File) (int, error) {
	if !traceSupported {
		return -1, fmt.Errorf("the /proc/sys redirector supports linux/amd64 only")
	}
	if err := r.prepare(); err != nil {
		return -1, err
	}
	if r.dir != "" {
		defer os.RemoveAll(r.dir)
	}
	if len(r.fakes) == 0 {
		r.logf("nothing to redirect: running without the tracer")
	}
	self := r.Self
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return -1, err
		}
	}
	mode := r.Mode
	if mode == "" {
		mode = "seccomp"
	}
	hargv := append([]string{self, traceExecName, mode, "--"}, argv...)
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = f.Fd()
	}
	// ptrace requests must come from the thread that is the tracer.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	pid, err := syscall.ForkExec(self, hargv, &syscall.ProcAttr{
		Env:   env,
		Files: fds,
		Sys:   &syscall.SysProcAttr{Ptrace: true, Setpgid: true, Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return -1, fmt.Errorf("start %s under ptrace: %w", argv[0], err)
	}
	code, err := r.loop(ctx, pid, mode)
	r.Stats.Elapsed = time.Since(start)
	return code, err
}

type tracee struct {
	started bool // the first stop (SIGSTOP of a new thread) was seen
	inSys   bool // syscall mode: between entry and exit
}

func (r *Redirector) loop(ctx context.Context, main int, mode string) (int, error) {
	tracees := map[int]*tracee{main: {}}
	code := -1
	var mem memCache
	defer mem.close()
	syscallMode := mode == "syscall"
	seccompOK := false
	first := true
	var killed atomic.Bool
	stop := context.AfterFunc(ctx, func() {
		killed.Store(true)
		_ = syscall.Kill(-main, syscall.SIGKILL)
	})
	defer stop()
	resume := func(tid, sig int) {
		if syscallMode {
			_ = syscall.PtraceSyscall(tid, sig)
		} else {
			_ = syscall.PtraceCont(tid, sig)
		}
	}
	for len(tracees) > 0 {
		var ws syscall.WaitStatus
		tid, err := syscall.Wait4(-1, &ws, unix.WALL, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			if errors.Is(err, syscall.ECHILD) {
				break
			}
			return code, err
		}
		r.Stats.Stops++
		t := tracees[tid]
		if t == nil {
			// A new thread or child may report before its parent's
			// clone event.
			t = &tracee{}
			tracees[tid] = t
			r.Stats.Tracees++
		}
		switch {
		case ws.Exited() || ws.Signaled():
			delete(tracees, tid)
			mem.drop(tid)
			if tid == main {
				if ws.Exited() {
					code = ws.ExitStatus()
				} else {
					code = 128 + int(ws.Signal())
				}
			}
			continue
		case !ws.Stopped():
			continue
		}
		sig := ws.StopSignal()
		event := int(ws) >> 16
		switch {
		case first:
			// The helper's exec stop: set the options once.
			first = false
			t.started = true
			r.Stats.Tracees++
			opts := syscall.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_EXITKILL | syscall.PTRACE_O_TRACECLONE |
				syscall.PTRACE_O_TRACEFORK | syscall.PTRACE_O_TRACEVFORK | syscall.PTRACE_O_TRACEEXEC
			if !syscallMode {
				opts |= unix.PTRACE_O_TRACESECCOMP
			}
			if err := syscall.PtraceSetOptions(tid, opts); err != nil {
				_ = syscall.Kill(tid, syscall.SIGKILL)
				return -1, fmt.Errorf("ptrace options: %w", err)
			}
			resume(tid, 0)
		case sig == syscall.SIGTRAP && event == unix.PTRACE_EVENT_SECCOMP:
			if path := r.handleOpen(tid, &mem); path == traceReadyPath {
				seccompOK = true
			}
			resume(tid, 0)
		case sig == syscall.SIGTRAP|0x80:
			// Syscall mode: entry and exit stops alternate.
			if !t.inSys {
				r.handleOpen(tid, &mem)
			}
			t.inSys = !t.inSys
			resume(tid, 0)
		case sig == syscall.SIGTRAP && event == syscall.PTRACE_EVENT_EXEC:
			mem.drop(tid)
			if !syscallMode && !seccompOK {
				// The filter did not report: stop at every syscall.
				syscallMode = true
				r.logf("SECCOMP_RET_TRACE did not reach the tracer: stopping at every syscall")
			}
			resume(tid, 0)
		case sig == syscall.SIGTRAP && event != 0:
			// clone, fork, vfork: the new tracee reports on its own.
			resume(tid, 0)
		case sig == syscall.SIGSTOP && !t.started:
			t.started = true
			resume(tid, 0)
		default:
			// A signal for the tracee: deliver it.
			resume(tid, int(sig))
		}
	}
	r.Stats.Mode = map[bool]string{true: "syscall", false: "seccomp"}[syscallMode]
	if killed.Load() {
		return code, ctx.Err()
	}
	return code, nil
}

// handleOpen inspects an open call of tid at syscall entry and redirects
// it; it returns the path seen.
func (r *Redirector) handleOpen(tid int, mem *memCache) string {
	var regs syscall.PtraceRegs
	if syscall.PtraceGetRegs(tid, &regs) != nil {
		return ""
	}
	addr, ok := openPathArg(&regs)
	if !ok {
		return ""
	}
	r.Stats.Opens++
	p, err := mem.readString(tid, addr)
	if err != nil {
		return ""
	}
	if p == traceReadyPath {
		return p
	}
	n := r.rewrite(p)
	if n == "" {
		return p
	}
	if err := mem.write(tid, addr, []byte(n[:len(procSysPrefix)])); err != nil {
		r.logf("redirect %s in %d: %v", p, tid, err)
		return p
	}
	r.Stats.Redirected++
	r.logf("redirected %s -> %s (tid %d)", p, n, tid)
	return p
}

// memCache keeps /proc/<tid>/mem open per tracee; it falls back to
// PTRACE_PEEKDATA/POKEDATA where the file does not work.
type memCache struct {
	files map[int]*os.File
	noMem bool
}

func (m *memCache) file(tid int) *os.File {
	if m.noMem {
		return nil
	}
	if m.files == nil {
		m.files = map[int]*os.File{}
	}
	if f := m.files[tid]; f != nil {
		return f
	}
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", tid), os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	m.files[tid] = f
	return f
}

func (m *memCache) drop(tid int) {
	if f := m.files[tid]; f != nil {
		f.Close()
		delete(m.files, tid)
	}
}

func (m *memCache) close() {
	for tid := range m.files {
		m.drop(tid)
	}
}

func (m *memCache) readString(tid int, addr uintptr) (string, error) {
	var out []byte
	buf := make([]byte, 256)
	for len(out) < 4096 {
		var n int
		var err error
		if f := m.file(tid); f != nil {
			n, err = f.ReadAt(buf, int64(addr)+int64(len(out)))
			if n == 0 && err != nil {
				m.drop(tid)
				n, err = syscall.PtracePeekData(tid, addr+uintptr(len(out)), buf)
			}
		} else {
			n, err = syscall.PtracePeekData(tid, addr+uintptr(len(out)), buf)
		}
		if n == 0 {
			if err == nil {
				err = errors.New("empty read")
			}
			return "", err
		}
		if i := indexByte(buf[:n], 0); i >= 0 {
			return string(append(out, buf[:i]...)), nil
		}
		out = append(out, buf[:n]...)
	}
	return "", errors.New("path longer than 4096 bytes")
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func (m *memCache) write(tid int, addr uintptr, b []byte) error {
	if f := m.file(tid); f != nil {
		if _, err := f.WriteAt(b, int64(addr)); err == nil {
			return nil
		}
	}
	_, err := syscall.PtracePokeData(tid, addr, b)
	return err
}

// TraceExecMain is the helper the redirector starts under ptrace: args
// are the mode, "--" and the target's argv. In seccomp mode it installs a
// filter that makes open, openat and openat2 stop for the tracer, tells
// the tracer by opening traceReadyPath, then execs the target.
func TraceExecMain(args []string) int { return traceExecMain(args) }

func traceExecMain(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "usage: "+traceExecName+" seccomp|syscall -- PATH ARGS...")
		return 2
	}
	mode, argv := args[0], args[2:]
	runtime.LockOSThread() // the filter and the exec must be on this thread
	if mode == "seccomp" {
		if err := installTraceFilter(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: seccomp filter: %v (every syscall will stop)\n", traceExecName, err)
		} else {
			_, _ = unix.Open(traceReadyPath, unix.O_RDONLY, 0)
		}
	}
	err := syscall.Exec(argv[0], argv, os.Environ())
	fmt.Fprintf(os.Stderr, "%s: exec %s: %v\n", traceExecName, argv[0], err)
	return 127
}
