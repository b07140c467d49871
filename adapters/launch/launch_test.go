package launch

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/adapters/datadir"
	"github.com/kprobe/kprobe/adapters/supervise"
)

func TestWaitForStopsOnFailureOrDeadline(t *testing.T) {
	failed := newFailure()
	calls := 0
	err := waitFor(context.Background(), failed, func() error {
		calls++
		if calls == 3 {
			return nil
		}
		return errors.New("not yet")
	})
	if err != nil || calls != 3 {
		t.Fatalf("waitFor = %v after %d calls", err, calls)
	}
	failed.set(errors.New("kubelet exited (code 1)"))
	// Every waiter sees the failure, not just the first (the finding: a
	// phase waited the whole --wait after another had taken the error).
	for i := 0; i < 3; i++ {
		err = waitFor(context.Background(), failed, func() error { return errors.New("node not Ready") })
		if err == nil || !strings.Contains(err.Error(), "kubelet exited") {
			t.Fatalf("waiter %d: a failed process must end the wait: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err = waitFor(ctx, newFailure(), func() error { return errors.New("/readyz: 500") })
	if err == nil || !strings.Contains(err.Error(), "gave up waiting") || !strings.Contains(err.Error(), "/readyz: 500") {
		t.Fatalf("a deadline must say what it waited for: %v", err)
	}
}

func TestLogTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kubelet.log")
	var lines []string
	for i := 0; i < 20; i++ {
		lines = append(lines, "line "+string(rune('a'+i)))
	}
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := logTail(p, 3)
	if !strings.Contains(got, "line r\n    line s\n    line t") || strings.Contains(got, "line q") {
		t.Fatalf("logTail = %q", got)
	}
	if logTail(filepath.Join(t.TempDir(), "missing"), 3) != "" {
		t.Error("a missing log must give no tail")
	}
	// etcd on a full disk: its cause, then a goroutine dump.
	etcd := filepath.Join(t.TempDir(), "etcd.log")
	dump := `{"level":"info","msg":"starting an etcd server"}
{"level":"fatal","msg":"failed to start etcd","error":"write /data/member/wal/0.tmp: no space left on device"}
panic: write /data/member/wal/0.tmp: no space left on device

goroutine 1 [running]:
go.etcd.io/etcd/server/v3/wal.Create(0xc0001a2000, {0xc00012a0f0, 0x1c})
	/go/src/go.etcd.io/etcd/server/wal/wal.go:170 +0x5c5
main.main()
	/go/src/go.etcd.io/etcd/main.go:40 +0x25
created by go.etcd.io/etcd/server/v3/embed.StartEtcd in goroutine 1
	/go/src/embed/etcd.go:120 +0x1f
`
	if err := os.WriteFile(etcd, []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	got = logTail(etcd, 3)
	if !strings.Contains(got, "no space left on device") || strings.Contains(got, "goroutine") || strings.Contains(got, "wal.go:170") || strings.Contains(got, "main.main()") {
		t.Fatalf("logTail of a Go panic = %q", got)
	}
}

func preflightErr(dir string, ports []int) error {
	lock, err := Preflight(dir, ports)
	if lock != nil {
		lock.Close()
	}
	return err
}

func TestPreflight(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = preflightErr(dir, []int{port})
	var pe *PreflightError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "is in use") {
		t.Fatalf("a port in use: %v", err)
	}
	if err := preflightErr("relative/dir", nil); err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Fatalf("a relative data dir: %v", err)
	}
	for _, bad := range []string{"", "/"} {
		if err := preflightErr(bad, nil); !errors.As(err, &pe) {
			t.Fatalf("--data-dir %q accepted: %v", bad, err)
		}
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := preflightErr(file, nil); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("a data dir that is a file: %v", err)
	}
	// A directory with files kprobe did not write is not a data dir.
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := preflightErr(foreign, nil); err == nil || !strings.Contains(err.Error(), "did not write") {
		t.Fatalf("a directory of someone else's: %v", err)
	}
	broken := filepath.Join(t.TempDir(), "broken")
	if err := preflightErr(broken, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "pki"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := preflightErr(broken, nil); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("a broken data dir: %v", err)
	}
	if err := preflightErr(filepath.Join(t.TempDir(), "fresh"), nil); err != nil {
		t.Fatalf("a fresh data dir: %v", err)
	}
}

// The finding: two launches of one data dir both printed "ready". The
// first preflight's lock is held until its supervisor takes it over, so
// the second fails at once, even before any supervisor runs.
func TestSecondLaunchOfADataDirFailsAtOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := Preflight(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pe *PreflightError
	if err := preflightErr(dir, nil); !errors.As(err, &pe) || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second launch while the first starts: %v", err)
	}
	first.Close()
	if err := preflightErr(dir, nil); err != nil {
		t.Fatalf("after the first launch let go: %v", err)
	}
}

// The finding: after the supervisor was killed, status said exit 0 and
// "running" processes that nothing watched any more.
func TestStatusSaysTheSupervisorIsGone(t *testing.T) {
	dir := t.TempDir()
	st := supervise.State{SupervisorPID: 1<<22 - 1, SupervisorStartTick: 1, Engine: "kubernetes", DataDir: dir, Phase: "running",
		Processes: []supervise.ProcessState{{Name: "etcd", PID: 1<<22 - 2, StartTick: 1, Status: supervise.Running}}}
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(filepath.Join(dir, "run", "state.json"), &st); err != nil {
		t.Fatal(err)
	}
	s, err := GetStatus(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Running || !strings.Contains(s.Problem, "supervisor (pid 4194303) is gone") || !strings.Contains(s.Phase, "supervisor gone") {
		t.Fatalf("status of a dead supervisor: %+v", s)
	}
	if p := s.Processes[0]; p.Status != supervise.Exited {
		t.Fatalf("a process that is gone shows as %s", p.Status)
	}
}

// Ctrl+C after the preflight stops what the launch started; a launch
// that its preflight refused touches nothing (another launch's cluster).
func TestInterruptedLaunchStopsWhatItStarted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &Result{Phases: []Phase{{Name: "preflight", Done: false}}}
	base := errors.New("context canceled")
	if err := interrupted(ctx, refused, t.TempDir(), base); err != base {
		t.Fatalf("a refused launch: %v", err)
	}
	if err := interrupted(context.Background(), &Result{Phases: []Phase{{Name: "preflight", Done: true}}}, t.TempDir(), base); err != base {
		t.Fatalf("not interrupted: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	lock, err := Preflight(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	lock.Close()
	err = interrupted(ctx, &Result{Phases: []Phase{{Name: "preflight", Done: true}}}, dir, base)
	if err == nil || !strings.Contains(err.Error(), "interrupted: stopped what the launch had started") {
		t.Fatalf("an interrupted launch: %v", err)
	}
}

// TestStopSaysWhatItCouldNotUndo: a stop that cannot undo everything
// fails (ErrNotUndone, a non-zero exit) and names what is left; with
// --purge it keeps the data dir, whose journal a second stop retries from.
func TestStopSaysWhatItCouldNotUndo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	if err := datadir.Create(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A journal that cannot be read: nothing on the host is touched.
	if err := os.WriteFile(snapshotPath(dir), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err := Stop(context.Background(), dir, true, &out)
	if !errors.Is(err, ErrNotUndone) || !strings.Contains(err.Error(), "host journal "+snapshotPath(dir)+" cannot be read") {
		t.Fatalf("stop with an unreadable journal: %v", err)
	}
	if strings.Contains(out.String(), "stopped\n") || !strings.Contains(out.String(), "kept "+dir) {
		t.Errorf("stop's output:\n%s", out.String())
	}
	if _, err := os.Stat(snapshotPath(dir)); err != nil {
		t.Errorf("the journal is gone: %v", err)
	}
}

// The finding (issue 18): the supervisor now starts kube-apiserver again
// when it exits before it was ever ready (a post-start hook's fixed minute
// under TCG). The launch must wait on through that restart, say it, and
// still fail on an exit past the supervisor's bound.
func TestWatchSupervisorWaitsThroughARestartBeforeReady(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	write := func(ps supervise.ProcessState) {
		t.Helper()
		ps.Name, ps.Log = "kube-apiserver", filepath.Join(dir, "logs", "kube-apiserver.log")
		st := supervise.State{SupervisorPID: self, SupervisorStartTick: supervise.StartTick(self), DataDir: dir, Phase: "starting",
			Processes: []supervise.ProcessState{ps}}
		if err := writeJSON(filepath.Join(dir, "run", "state.json"), &st); err != nil {
			t.Fatal(err)
		}
	}
	exit := "exit status 255 before it was ready"
	write(supervise.ProcessState{PID: 1 << 22, Status: supervise.Starting, ExitCode: 255, LastExit: exit, Error: exit + "; starting it again"})
	var phases []Phase
	res := &Result{}
	tr := &tracker{start: time.Now(), res: res, progress: func(p Phase) { phases = append(phases, p) }}
	ctx, cancel := context.WithCancel(context.Background())
	failed := newFailure()
	done := make(chan struct{})
	go func() { watchSupervisor(ctx, tr, dir, self, failed); close(done) }()
	time.Sleep(300 * time.Millisecond)
	write(supervise.ProcessState{PID: self, Status: supervise.Starting, Restarts: 1, LastExit: exit})
	time.Sleep(300 * time.Millisecond)
	select {
	case <-failed.done:
		t.Fatalf("a restart before ready failed the launch: %v", failed.err)
	default:
	}
	cancel()
	<-done
	if len(res.Phases) != 1 || res.Phases[0].Name != "kube-apiserver restart 1" || !res.Phases[0].Done ||
		!strings.Contains(res.Phases[0].Detail, exit+"; the supervisor started it again (pid ") {
		t.Fatalf("phases recorded: %+v", res.Phases)
	}
	if len(phases) != 2 {
		t.Fatalf("phases shown: %+v", phases)
	}
	// Past the bound the supervisor records the exit: the launch fails.
	write(supervise.ProcessState{PID: self, Status: supervise.Exited, ExitCode: 255, Restarts: 2, LastExit: exit})
	failed = newFailure()
	go watchSupervisor(context.Background(), tr, dir, self, failed)
	select {
	case <-failed.done:
		if !strings.Contains(failed.err.Error(), "kube-apiserver exited (code 255)") {
			t.Fatalf("failure: %v", failed.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an exit past the bound did not fail the launch")
	}
}
