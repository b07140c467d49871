package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Supervisor runs a Spec.
type Supervisor struct {
	spec  *Spec
	l     Layout
	log   io.Writer
	logMu sync.Mutex // log is written from every process's goroutines
	mu    sync.Mutex
	state State
	cmds  map[string]*exec.Cmd
	// ready holds, per process, a channel closed once its Ready check
	// first passed (what Process.After waits for).
	ready map[string]chan struct{}
	// readied records, under mu, that a process was once ready: from
	// then on watch restarts it; before, its exits go to startAndWait.
	readied map[string]bool
	// stopping is closed when a stop was asked for.
	stopping chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// ErrLocked is returned when another supervisor holds the data dir.
var ErrLocked = errors.New("a cluster is already running from this data dir")

// Lock takes the data dir's lock; it is held until the process exits.
func Lock(dataDir string) (*os.File, error) {
	l := Layout{dataDir}
	if err := os.MkdirAll(l.RunDir(), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(l.LockPath(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}

// takeLock takes over the lock the launch passed down (LockFDEnv), after
// checking that it is this data dir's lock file; without one it takes the
// lock itself.
func takeLock(dataDir string) (*os.File, error) {
	v := os.Getenv(LockFDEnv)
	if v == "" {
		return Lock(dataDir)
	}
	os.Unsetenv(LockFDEnv) // not for the components
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a descriptor", LockFDEnv, v)
	}
	f := os.NewFile(uintptr(fd), Layout{dataDir}.LockPath())
	var got, want unix.Stat_t
	if err := unix.Fstat(fd, &got); err != nil || unix.Stat(Layout{dataDir}.LockPath(), &want) != nil || got.Dev != want.Dev || got.Ino != want.Ino {
		f.Close()
		return nil, fmt.Errorf("descriptor %d is not the lock of %s", fd, dataDir)
	}
	unix.CloseOnExec(fd)
	// The same open file description: the lock is ours already.
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dataDir, err)
	}
	return f, nil
}

// Locked reports whether a supervisor holds the data dir's lock.
func Locked(dataDir string) bool {
	f, err := Lock(dataDir)
	if err != nil {
		return errors.Is(err, ErrLocked)
	}
	f.Close()
	return false
}

// Run supervises the spec of dataDir until SIGTERM/SIGINT or ctx ends,
// then stops every process in reverse order. It returns an error when a
// process failed to start or become ready.
func Run(ctx context.Context, dataDir string, log io.Writer) error {
	lock, err := takeLock(dataDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	spec, err := ReadSpec(dataDir)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	s := &Supervisor{spec: spec, l: Layout{dataDir}, log: log, cmds: map[string]*exec.Cmd{}, ready: map[string]chan struct{}{}, readied: map[string]bool{}, stopping: make(chan struct{})}
	s.state = State{
		SupervisorPID: os.Getpid(), SupervisorStartTick: StartTick(os.Getpid()),
		Engine: spec.Engine, DataDir: dataDir, StartedAt: time.Now(), Phase: "starting",
	}
	for _, p := range spec.Processes {
		s.state.Processes = append(s.state.Processes, ProcessState{Name: p.Name, Status: Stopped, Log: s.l.Log(p.Name)})
		s.ready[p.Name] = make(chan struct{})
	}
	if err := os.MkdirAll(s.l.LogDir(), 0o755); err != nil {
		return err
	}
	s.save()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
		}
		s.stop()
	}()

	var startErr error
	var background sync.WaitGroup
	var bgMu sync.Mutex
	fail := func(err error) {
		bgMu.Lock()
		if startErr == nil {
			startErr = err
		}
		bgMu.Unlock()
		s.logf("%v", err)
		s.stop()
	}
	for _, p := range spec.Processes {
		if s.isStopping() {
			break
		}
		if p.NoWait {
			background.Add(1)
			go func(p Process) {
				defer background.Done()
				if err := s.startAndWait(p); err != nil {
					fail(err)
				}
			}(p)
			// Give it its turn in the start order before the next one.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if err := s.startAndWait(p); err != nil {
			fail(err)
			break
		}
	}
	background.Wait()
	bgMu.Lock()
	defer bgMu.Unlock()
	if startErr == nil {
		s.setPhase("running")
		s.logf("all %d processes ready", len(spec.Processes))
	}
	<-s.stopping
	s.shutdown()
	if startErr != nil {
		s.setPhase("failed")
		return startErr
	}
	s.setPhase("stopped")
	return nil
}

func (s *Supervisor) logf(format string, a ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.log, "%s supervise: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

func (s *Supervisor) save() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeJSON(s.l.StatePath(), &s.state); err != nil {
		s.logf("write state: %v", err)
	}
}

func (s *Supervisor) update(name string, f func(*ProcessState)) {
	s.mu.Lock()
	for i := range s.state.Processes {
		if s.state.Processes[i].Name == name {
			f(&s.state.Processes[i])
		}
	}
	s.mu.Unlock()
	s.save()
}

func (s *Supervisor) setPhase(p string) {
	s.mu.Lock()
	s.state.Phase = p
	s.mu.Unlock()
	s.save()
}

// setCause records the first process that failed the start.
func (s *Supervisor) setCause(name string) {
	s.mu.Lock()
	if s.state.Cause == "" {
		s.state.Cause = name
	}
	s.mu.Unlock()
	s.save()
}

func (s *Supervisor) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

func (s *Supervisor) stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// start starts one process with its log; exits are handled by watch.
func (s *Supervisor) start(p Process) (*exec.Cmd, error) {
	logf, err := os.OpenFile(s.l.Log(p.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	path, args := p.Path, p.Args
	if p.JoinNamespacesOf != "" {
		pid, err := s.pidOf(p.JoinNamespacesOf)
		if err != nil {
			logf.Close()
			return nil, fmt.Errorf("start %s: %w", p.Name, err)
		}
		path, args = "nsenter", append([]string{"--target", strconv.Itoa(pid), "--net", "--mount", "--", p.Path}, p.Args...)
	}
	if p.Ready.File != "" {
		_ = os.Remove(p.Ready.File)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", p.Name, err)
	}
	logf.Close() // the child has its own copy
	s.mu.Lock()
	s.cmds[p.Name] = cmd
	s.mu.Unlock()
	tick := StartTick(cmd.Process.Pid)
	s.update(p.Name, func(ps *ProcessState) {
		ps.PID, ps.StartTick, ps.Status, ps.StartedAt = cmd.Process.Pid, tick, Starting, time.Now()
		ps.ExitCode, ps.Error = 0, ""
	})
	s.logf("started %s (pid %d)", p.Name, cmd.Process.Pid)
	return cmd, nil
}

// pidOf is the PID of a running process of the spec (nsenter's target).
func (s *Supervisor) pidOf(name string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range s.state.Processes {
		if ps.Name == name && (ps.Status == Running || ps.Status == Starting) && SameProcess(ps.PID, ps.StartTick) {
			return ps.PID, nil
		}
	}
	return 0, fmt.Errorf("%s, whose namespaces it joins, is not running", name)
}

// startAndWait starts a process and waits until it is ready, it exits, or
// the wait times out: at its Ready limit, or, while it is still busy
// starting then, at the launch's deadline (progress.go). An exit before
// the process was first ready is answered by a new start up to
// p.RestartsBeforeReady times; the next one fails the start.
func (s *Supervisor) startAndWait(p Process) error {
	if err := s.waitAfter(p); err != nil {
		return err
	}
	for restarts := 0; ; restarts++ {
		cmd, err := s.start(p)
		if err != nil {
			return err
		}
		if restarts > 0 {
			s.update(p.Name, func(ps *ProcessState) { ps.Restarts++ })
		}
		exited := make(chan error, 1)
		s.wg.Add(1)
		go s.watch(p, cmd, exited)
		err = s.waitReady(p, cmd, exited)
		var early *exitedEarly
		if !errors.As(err, &early) {
			return err
		}
		exit := fmt.Sprintf("%v before it was ready", early.err)
		if restarts >= p.RestartsBeforeReady {
			s.update(p.Name, func(ps *ProcessState) {
				ps.Status, ps.ExitCode, ps.Error, ps.LastExit = Exited, early.code, fmt.Sprint(early.err), exit
			})
			s.setCause(p.Name)
			after := ""
			if restarts > 0 {
				after = fmt.Sprintf(", started %d times", restarts+1)
			}
			return fmt.Errorf("%s exited before it was ready (%v%s); see %s", p.Name, early.err, after, s.l.Log(p.Name))
		}
		s.logf("%s exited before it was ready (%v): starting it again in %s (restart %d of at most %d before it is ready)",
			p.Name, early.err, BackoffBase, restarts+1, p.RestartsBeforeReady)
		// Still starting, not exited: the launch waits on.
		s.update(p.Name, func(ps *ProcessState) {
			ps.Status, ps.ExitCode, ps.LastExit = Starting, early.code, exit
			ps.Error = exit + "; starting it again"
		})
		select {
		case <-s.stopping:
			return fmt.Errorf("stopped while waiting for %s", p.Name)
		case <-time.After(BackoffBase):
		}
	}
}

// exitedEarly is a run of a process that ended before it was ready.
type exitedEarly struct {
	err  error // from Wait: nil for exit status 0
	code int
}

func (e *exitedEarly) Error() string { return fmt.Sprintf("exited before it was ready (%v)", e.err) }

// waitReady waits for one run of p (cmd, whose watch reports an exit
// before readiness on exited) to be ready; *exitedEarly when it exits
// first.
func (s *Supervisor) waitReady(p Process, cmd *exec.Cmd, exited <-chan error) error {
	limit, started := p.Ready.WaitFor(), time.Now()
	deadline := started.Add(limit)
	work := progress{pid: cmd.Process.Pid}
	extended := false
	early := func(err error) error { return &exitedEarly{err: err, code: cmd.ProcessState.ExitCode()} }
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := check(ctx, p.Ready)
		cancel()
		if err == nil {
			// Ready, unless it exited meanwhile: decided under s.mu,
			// where watch decides who handles an exit.
			s.mu.Lock()
			select {
			case werr := <-exited:
				s.mu.Unlock()
				return early(werr)
			default:
				s.readied[p.Name] = true
			}
			s.mu.Unlock()
			s.update(p.Name, func(ps *ProcessState) { ps.Status, ps.ReadyAt, ps.Error = Running, time.Now(), "" })
			s.logf("%s ready (%s)", p.Name, p.Ready)
			close(s.ready[p.Name])
			return nil
		}
		select {
		case werr := <-exited:
			return early(werr)
		case <-s.stopping:
			return fmt.Errorf("stopped while waiting for %s", p.Name)
		case <-time.After(50 * time.Millisecond):
		}
		now := time.Now()
		share, seen := work.share(now)
		if !now.After(deadline) {
			continue
		}
		if !seen && !s.spec.ReadyBy.IsZero() && now.Before(deadline.Add(BusyWindow+time.Second)) {
			continue // decided on a whole window of CPU time
		}
		if seen && share >= BusyShare && now.Before(s.spec.ReadyBy) {
			if !extended {
				s.logf("%s not ready after its %s, but starting (%.2f of a CPU over the last %s): waiting while it works, up to the launch's deadline %s",
					p.Name, limit, share, BusyWindow, s.spec.ReadyBy.Format("15:04:05"))
				extended = true
			}
			continue
		}
		s.setCause(p.Name)
		waited := now.Sub(started).Round(time.Second)
		why := fmt.Sprintf("its limit %s", limit)
		switch {
		case extended && !now.Before(s.spec.ReadyBy):
			why += ", extended while it worked, up to the launch's deadline"
		case extended:
			why += fmt.Sprintf(", extended while it worked; then %.2f of a CPU over the last %s", share, BusyWindow)
		}
		return fmt.Errorf("%s not ready after %s (%s; %s: %v); see %s", p.Name, waited, why, p.Ready, err, s.l.Log(p.Name))
	}
}

// waitAfter waits until every process p starts after (Process.After) is
// ready. A dependency that never gets there fails the start itself, which
// stops the supervisor and ends this wait.
func (s *Supervisor) waitAfter(p Process) error {
	for _, a := range p.After {
		ready, ok := s.ready[a]
		if !ok {
			return fmt.Errorf("%s starts after %s, which is not in the spec", p.Name, a)
		}
		select {
		case <-ready:
		case <-s.stopping:
			return fmt.Errorf("stopped while %s waited for %s", p.Name, a)
		}
	}
	if len(p.After) > 0 {
		s.logf("%s: %s ready, starting it", p.Name, strings.Join(p.After, ", "))
	}
	return nil
}

// Restart back-off, as the kubelet's for containers (shorter: a local
// cluster): the first restart after BackoffBase, doubling up to
// BackoffMax; a process that ran BackoffReset is back to BackoffBase.
var (
	BackoffBase  = time.Second
	BackoffMax   = 30 * time.Second
	BackoffReset = time.Minute
)

// watch waits for a process and, after an unexpected exit, restarts it
// with back-off until the supervisor stops (unless NoRestart). An exit
// before the process was first ready goes to early instead, and
// startAndWait decides what follows.
func (s *Supervisor) watch(p Process, cmd *exec.Cmd, early chan<- error) {
	defer s.wg.Done()
	delay := BackoffBase
	started := time.Now()
	for {
		err := cmd.Wait()
		code := cmd.ProcessState.ExitCode()
		if s.isStopping() {
			s.update(p.Name, func(ps *ProcessState) { ps.Status, ps.ExitCode = Stopped, code })
			return
		}
		s.mu.Lock()
		ready := s.readied[p.Name]
		if !ready {
			early <- err // buffered; sent once: watch returns
		}
		s.mu.Unlock()
		if !ready {
			return
		}
		s.update(p.Name, func(ps *ProcessState) {
			ps.Status, ps.ExitCode, ps.Error, ps.LastExit = Exited, code, fmt.Sprint(err), fmt.Sprint(err)
		})
		if p.NoRestart {
			s.logf("%s exited: %v; not restarted", p.Name, err)
			s.update(p.Name, func(ps *ProcessState) { ps.Status = Failed })
			return
		}
		if time.Since(started) >= BackoffReset {
			delay = BackoffBase
		}
		s.logf("%s exited: %v; restarting in %s", p.Name, err, delay)
		select {
		case <-s.stopping:
			s.update(p.Name, func(ps *ProcessState) { ps.Status = Stopped })
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, BackoffMax)
		next, serr := s.start(p)
		if serr != nil {
			// Kept trying: a missing binary may come back.
			s.logf("%v", serr)
			s.update(p.Name, func(ps *ProcessState) { ps.Restarts++; ps.Status, ps.Error = Exited, serr.Error() })
			cmd = nil
			for cmd == nil {
				select {
				case <-s.stopping:
					return
				case <-time.After(delay):
				}
				delay = min(2*delay, BackoffMax)
				if next, serr = s.start(p); serr == nil {
					cmd = next
				}
			}
		} else {
			cmd = next
		}
		started = time.Now()
		s.update(p.Name, func(ps *ProcessState) { ps.Restarts++; ps.Status = Running })
	}
}

// shutdown stops the processes in reverse start order.
func (s *Supervisor) shutdown() {
	s.setPhase("stopping")
	for i := len(s.spec.Processes) - 1; i >= 0; i-- {
		p := s.spec.Processes[i]
		s.mu.Lock()
		cmd := s.cmds[p.Name]
		s.mu.Unlock()
		if cmd == nil || cmd.Process == nil {
			continue
		}
		timeout := p.StopTimeout
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		s.logf("stopping %s", p.Name)
		terminate(cmd.Process.Pid, timeout)
	}
	s.wg.Wait()
}

// terminate sends SIGTERM to a process group, then SIGKILL after timeout.
func terminate(pid int, timeout time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if StartTick(pid) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// LockFDEnv names the environment variable that tells a supervisor which
// inherited descriptor is its data dir's lock, taken by the launch.
const LockFDEnv = "KPROBE_SUPERVISOR_LOCK_FD"

// Detach starts `exe args...` as a detached supervisor (its own session,
// output to logPath) and returns its PID without waiting for it. attr,
// when not nil, adds to how it starts (a new mount namespace). lock, when
// not nil, is the data dir's lock the caller holds: the supervisor
// inherits it, so the lock is never free between the launch's preflight
// and the supervisor's end.
func Detach(exe string, args []string, logPath string, attr *syscall.SysProcAttr, lock *os.File) (int, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Setsid = true
	cmd.SysProcAttr = attr
	if lock != nil {
		cmd.ExtraFiles = []*os.File{lock} // fd 3
		cmd.Env = append(os.Environ(), LockFDEnv+"=3")
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	return pid, cmd.Process.Release()
}

// Stop asks the supervisor of dataDir to stop and waits for it, up to
// timeout. When the supervisor is gone but processes it recorded still
// run (it crashed), Stop terminates them itself.
func Stop(dataDir string, timeout time.Duration) error {
	st, err := ReadState(dataDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNotRunning
		}
		return err
	}
	if st.Alive() {
		_ = syscall.Kill(st.SupervisorPID, syscall.SIGTERM)
		deadline := time.Now().Add(timeout)
		for st.Alive() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if st.Alive() {
			_ = syscall.Kill(st.SupervisorPID, syscall.SIGKILL)
		}
	}
	// Whatever is still alive (a crashed or killed supervisor) goes now.
	for i := len(st.Processes) - 1; i >= 0; i-- {
		p := st.Processes[i]
		if SameProcess(p.PID, p.StartTick) {
			terminate(p.PID, 5*time.Second)
		}
	}
	return nil
}
