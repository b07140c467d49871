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
)

func TestWaitForStopsOnFailureOrDeadline(t *testing.T) {
	failed := make(chan error, 1)
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
	failed <- errors.New("kubelet exited (code 1)")
	err = waitFor(context.Background(), failed, func() error { return errors.New("node not Ready") })
	if err == nil || !strings.Contains(err.Error(), "kubelet exited") {
		t.Fatalf("a failed process must end the wait: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err = waitFor(ctx, make(chan error), func() error { return errors.New("/readyz: 500") })
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
