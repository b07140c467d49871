//go:build linux

package probes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/sys/reexec"
	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes/bounded"
)

const childName = "kprobe-active-probe"

// RegisterChildren registers the re-exec entry points of active probes and
// their ops. main and TestMain call it, then reexec.Init.
func RegisterChildren(all []Probe) {
	reexec.Register(childName, func() { os.Exit(childMain(all)) })
	reexec.Register(OpName, func() { os.Exit(opMain()) })
	reexec.Register(sharedChildName, func() { os.Exit(sharedChildMain(all)) })
}

// ChildRunner runs active probes in a re-exec'd child, in a private mount
// namespace when the sandbox allows one, with a fresh temp dir removed
// afterwards. A child that overruns its context is killed with its
// process group.
type ChildRunner struct {
	DataDir string
	// Exe is the executable that runs the children (kprobe-probe, see
	// ProbeChildExe); empty re-executes the running binary.
	Exe string

	mu      sync.Mutex
	group   *sharedChild   // the ChildSharer probes of the scan Prepare saw
	running sync.WaitGroup // RunActive calls and shared children not yet cleaned up
}

type childReply struct {
	Observation *Observation `json:"observation"`
	Error       string       `json:"error,omitempty"`
}

// RunActive implements ActiveRunner.
func (c *ChildRunner) RunActive(ctx context.Context, p Probe) (*Observation, error) {
	c.running.Add(1)
	defer c.running.Done()
	if g := c.sharedFor(p); g != nil {
		if obs, err, ok := g.run(ctx, c, p); ok {
			return obs, err
		}
		// The shared child gave no answer for p: run it alone.
	}
	tmp, err := os.MkdirTemp("", "kprobe-"+p.ID()+"-")
	if err != nil {
		return nil, fmt.Errorf("temp dir for active probe: %w", err)
	}
	defer os.RemoveAll(tmp)
	r := c.start(ctx, p, tmp, true)
	swept := r.swept
	if r.err != nil && isCloneDenied(r.err) {
		// No private mount namespace here (unprivileged sandbox): run in
		// our own namespace; ops then create what they may themselves.
		r = c.start(ctx, p, tmp, false)
		swept = append(swept, r.swept...)
	}
	if r.err != nil {
		return nil, fmt.Errorf("active probe child: %w%s%s", r.err, tail(r.stderr), sweptText(swept))
	}
	var rep childReply
	if err := json.Unmarshal(r.out, &rep); err != nil || rep.Observation == nil {
		return nil, fmt.Errorf("active probe child sent no result (%v)%s%s", err, tail(r.stderr), sweptText(swept))
	}
	if err := CoerceObservation(p, rep.Observation); err != nil {
		return nil, err
	}
	rep.Observation.Evidence = append(rep.Observation.Evidence, swept...)
	return rep.Observation, ErrFromText(rep.Error)
}

// Wait implements ActiveWaiter: it returns once every child this runner
// started has ended and been swept and its temp dir removed, or false
// after limit.
func (c *ChildRunner) Wait(limit time.Duration) bool {
	done := make(chan struct{})
	go func() {
		c.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(limit):
		return false
	}
}

// childRun is what one child left: its output, and what the probe's
// Sweep removed (or failed to remove) after it.
type childRun struct {
	out, stderr []byte
	swept       []Evidence
	err         error
}

func sweptText(ev []Evidence) string {
	var parts []string
	for _, e := range ev {
		s := e.Source + " " + e.Excerpt
		if e.Errno != "" {
			s += " (" + e.Errno + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return ""
	}
	return "; after the child: " + strings.Join(parts, "; ")
}

// ProbeChildName is the executable that runs active probes in children
// (cmd/kprobe-probe): it links only the probes, so a child starts without
// the package initialisation of kprobe's Kubernetes libraries.
const ProbeChildName = "kprobe-probe"

// ProbeChildExe returns the kprobe-probe next to the running executable,
// or "" when there is none (the children then re-execute this binary).
func ProbeChildExe() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	path := filepath.Join(filepath.Dir(self), ProbeChildName)
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 || path == self {
		return ""
	}
	return path
}

func isCloneDenied(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS)
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 400 {
		s = "..." + s[len(s)-400:]
	}
	return ": " + s
}

func (c *ChildRunner) start(ctx context.Context, p Probe, tmp string, newns bool) childRun {
	if c.Exe != "" {
		r := c.startExe(ctx, c.Exe, p, tmp, newns)
		var ee *exec.ExitError
		if !errors.As(r.err, &ee) || ee.ExitCode() != exitUnknownProbe {
			return r
		}
		// A kprobe-probe from another build that lacks this probe: the
		// running binary has every probe it knows of.
	}
	return c.startExe(ctx, "", p, tmp, newns)
}

// exitUnknownProbe is the child's exit code for a probe ID it lacks.
const exitUnknownProbe = 3

func (c *ChildRunner) startExe(ctx context.Context, exe string, p Probe, tmp string, newns bool) childRun {
	cmd := childCommand(exe, newns, childName, p.ID(), c.DataDir, tmp)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := runKillable(ctx, cmd)
	r := childRun{out: out.Bytes(), stderr: errb.Bytes(), err: err}
	if s, ok := p.(Sweeper); ok && cmd.Process != nil {
		r.swept = sweep(s, cmd.Process.Pid, c.DataDir, tmp)
	}
	return r
}

// childCommand is a probe child of exe (the running binary when empty)
// at a re-exec entry point: in its own process group, killed with its
// parent, and with newns in a new mount namespace, which the child makes
// private (privateMounts).
func childCommand(exe string, newns bool, args ...string) *exec.Cmd {
	cmd := reexec.Command(args...)
	if exe != "" {
		cmd.Path = exe
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if newns {
		attr.Cloneflags = syscall.CLONE_NEWNS
		cmd.Env = append(os.Environ(), childNewNSEnv+"=1")
	}
	cmd.SysProcAttr = attr
	return cmd
}

// childEnv is the Env a probe runs with in a child (or its sweep in the
// parent): the live machine, the probe's own temp dir, no further child.
func childEnv(dataDir, tmp string) *Env {
	return &Env{Root: bounded.Wrap(os.DirFS("/")), Sys: LiveSys(), DataDir: dataDir, TempDir: tmp}
}

// runInChild runs p in this child under its time limit and returns the
// reply the parent reads.
func runInChild(p Probe, dataDir, tmp string) childReply {
	return runInChildCtx(context.Background(), p, dataDir, tmp)
}

// runInChildCtx is runInChild under ctx (which may carry opStartedKey).
func runInChildCtx(ctx context.Context, p Probe, dataDir, tmp string) childReply {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	obs, err := p.Run(ctx, childEnv(dataDir, tmp))
	if obs == nil {
		obs = NewObservation()
	}
	return childReply{Observation: obs, Error: ErrorText(err)}
}

// childNewNSEnv tells a child that childCommand started it in a new
// mount namespace of its own.
const childNewNSEnv = "KPROBE_CHILD_NEWNS"

// InPrivateMountNamespace reports whether this process is a probe child
// started in a mount namespace of its own (childCommand with newns), so
// a probe may mount there as in a grandchild's new namespace.
func InPrivateMountNamespace() bool { return os.Getenv(childNewNSEnv) == "1" }

// privateMounts keeps every mount of a child started with a new mount
// namespace (childCommand) out of the parent's namespace. gVisor refuses
// MS_REC|MS_PRIVATE with EINVAL; its mounts do not propagate anyway, and
// probes unmount what they mount.
func privateMounts() {
	if InPrivateMountNamespace() {
		_ = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
	}
}

// sweep runs a probe's Sweep for one finished child and turns what it
// did into evidence.
func sweep(s Sweeper, pid int, dataDir, tmp string) []Evidence {
	removed, err := s.Sweep(pid, childEnv(dataDir, tmp))
	var ev []Evidence
	for _, r := range removed {
		ev = append(ev, Evidence{Source: r, Excerpt: fmt.Sprintf("left by active probe child %d; removed", pid)})
	}
	if err != nil {
		ev = append(ev, Evidence{Source: fmt.Sprintf("cleanup after active probe child %d", pid),
			Excerpt: err.Error(), Errno: Errno(err)})
	}
	return ev
}

// runKillable runs cmd (which must have Setpgid) and, when ctx ends first,
// kills its process group and every process descended from it: a
// container's init leaves the group (runc's init calls setsid) and would
// otherwise outlive the child as an orphan.
func runKillable(ctx context.Context, cmd *exec.Cmd) error {
	return runKillableStarted(ctx, cmd, nil)
}

// runKillableStarted is runKillable that calls started (when not nil)
// once cmd has started.
func runKillableStarted(ctx context.Context, cmd *exec.Cmd, started func()) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	if started != nil {
		started()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		pid := cmd.Process.Pid
		// Stop the group first so that nothing in it forks while the
		// tree is read; the descendants are found by their parent PIDs
		// while the child still holds them.
		_ = syscall.Kill(-pid, syscall.SIGSTOP)
		var killed []int // pidfds of the descendants, to see them exit
		for _, d := range descendants(pid) {
			if fd, err := unix.PidfdOpen(d, 0); err == nil {
				killed = append(killed, fd)
			}
			_ = syscall.Kill(d, syscall.SIGKILL)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
		awaitExit(killed, killedExitLimit)
		return ctx.Err()
	}
}

// killedExitLimit bounds the wait for killed descendants to exit: a
// process in an uninterruptible sleep (a namespace or mount teardown)
// must not hold the scan.
const killedExitLimit = 2 * time.Second

// awaitExit waits until each process of pidfds has exited (a pidfd
// polls readable then), at most limit, and closes them. The child's own
// Wait does not cover its descendants: reparented, they may still run
// (and hold the cgroups a Sweep removes) when the child has been reaped.
func awaitExit(pidfds []int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for _, fd := range pidfds {
		for {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pfd, int(left.Milliseconds())+1)
			if n > 0 || (err != nil && err != unix.EINTR) {
				break
			}
		}
		unix.Close(fd)
	}
}

// descendants returns the PIDs of the live processes descended from pid,
// from the parent PID field of /proc/PID/stat.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "PID (comm) STATE PPID ...": comm may hold spaces and ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			children[pp] = append(children[pp], n)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func childMain(all []Probe) int {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: kprobe-active-probe ID DATADIR TMPDIR")
		return exitUnknownProbe
	}
	id, dataDir, tmp := os.Args[1], os.Args[2], os.Args[3]
	var p Probe
	for _, q := range all {
		if q.ID() == id {
			p = q
		}
	}
	if p == nil {
		fmt.Fprintf(os.Stderr, "unknown probe %q\n", id)
		return exitUnknownProbe
	}
	privateMounts()
	if e := json.NewEncoder(os.Stdout).Encode(runInChild(p, dataDir, tmp)); e != nil {
		return 1
	}
	return 0
}

// SpawnOp runs a registered Op in a re-exec'd grandchild with the given
// process attributes (clone flags, uid maps). The returned error carries the
// errno of the clone or of the op, so callers can tell EPERM from EINVAL.
func SpawnOp(ctx context.Context, attr *syscall.SysProcAttr, op string, args ...string) (string, error) {
	if _, ok := ops[op]; !ok {
		return "", fmt.Errorf("unknown op %q", op)
	}
	cmd := reexec.Command(append([]string{OpName, op}, args...)...)
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Setpgid = true
	// Go's fork checks for a dead parent by comparing getppid() with the
	// parent's pid; in a new pid namespace getppid() is 0, so the child
	// signals itself. Linux ignores that for a namespace's pid 1, gVisor
	// delivers it. Such ops are still killed with the process group.
	if attr.Cloneflags&syscall.CLONE_NEWPID == 0 {
		attr.Pdeathsig = syscall.SIGKILL
	}
	cmd.SysProcAttr = attr
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	started, _ := ctx.Value(opStartedKey{}).(func())
	err := runKillableStarted(ctx, cmd, started)
	return opOutcome(op, out.String(), errb.Bytes(), err)
}

// opStartedKey carries a func that SpawnOp calls once an op's process has
// started (the shared child's leader, ChildLeader).
type opStartedKey struct{}

// OnOpStarted returns ctx with fn called once an op SpawnOp runs under it
// has started its process, before any such func ctx already carried.
func OnOpStarted(ctx context.Context, fn func()) context.Context {
	prev, _ := ctx.Value(opStartedKey{}).(func())
	return context.WithValue(ctx, opStartedKey{}, func() {
		fn()
		if prev != nil {
			prev()
		}
	})
}

// opOutcome turns an op's output and exit into SpawnOp's answer.
func opOutcome(op, out string, errb []byte, err error) (string, error) {
	line := strings.TrimSpace(out)
	if rest, ok := strings.CutPrefix(line, "ERR "); ok {
		return "", ErrFromText(rest)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("op %s exited %d%s", op, ee.ExitCode(), tail(errb))
		}
		// The clone itself failed: err wraps the errno.
		return "", err
	}
	return line, nil
}

func opMain() int {
	if len(os.Args) < 2 {
		return 3
	}
	fn, ok := ops[os.Args[1]]
	if !ok {
		fmt.Println("ERR unknown op " + os.Args[1])
		return 1
	}
	res, err := fn(os.Args[2:])
	if err != nil {
		fmt.Println("ERR " + ErrorText(err))
		return 1
	}
	fmt.Println(res)
	return 0
}
