package tui_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kprobe/kprobe/adapters/launch"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/capture"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports/tui"
)

// screenBuf is what a program draws, safe to read while it draws.
type screenBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *screenBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *screenBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// keyboard is the program's input: keys typed from the test.
type keyboard struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func newKeyboard(t *testing.T) keyboard {
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	return keyboard{r, w}
}

// typ types keys without waiting for the program to read them.
func (k keyboard) typ(keys string) { go k.w.Write([]byte(keys)) }

// replayScan is the work of `kprobe scan --from-capture` for RunScan.
func replayScan(t *testing.T, ctx context.Context, onResult func(probes.Result)) tui.ScanDone {
	env, err := capture.ReplayEnv(filepath.Join(sandboxes, "gvisor-run"), suite.All())
	if err != nil {
		t.Error(err)
		return tui.ScanDone{}
	}
	s := probes.Run(ctx, env, suite.All(), probes.Options{OnResult: onResult})
	p := profiles.FromScan(s, "test", time.Now())
	return tui.ScanDone{Verdict: p.Verdict, Identity: p.Identity, Profile: "p.toml"}
}

// TestRunScan: the scan runs in its own goroutine, the view shows its end
// and quits on q, and RunScan hands back how the scan ended.
func TestRunScan(t *testing.T) {
	kb := newKeyboard(t)
	out := &screenBuf{}
	var workCtxErr error
	d, err := tui.RunScan(context.Background(), tui.Terminal{In: kb.r, Out: out, NoColor: true},
		tui.ScanOptions{Probes: suite.All(), Source: "gvisor-run"},
		func(ctx context.Context, onResult func(probes.Result)) tui.ScanDone {
			d := replayScan(t, ctx, onResult)
			workCtxErr = ctx.Err()
			go func() {
				waitFor(t, "the verdict on the screen", func() bool { return strings.Contains(out.String(), "verdict: TP") })
				kb.typ("q")
			}()
			return d
		})
	if err != nil || d.Verdict.Rung != profiles.TP || d.Profile != "p.toml" || workCtxErr != nil {
		t.Fatalf("RunScan: %v, %+v, scan context %v", err, d, workCtxErr)
	}
}

// TestRunScanQuitEarly: q before the end leaves the view; the scan goes
// on to its end, as without the TUI.
func TestRunScanQuitEarly(t *testing.T) {
	kb := newKeyboard(t)
	var workCtxErr error
	d, err := tui.RunScan(context.Background(), tui.Terminal{In: kb.r, Out: &screenBuf{}, NoColor: true},
		tui.ScanOptions{Probes: suite.All()},
		func(ctx context.Context, onResult func(probes.Result)) tui.ScanDone {
			n := 0
			return replayScanWith(t, ctx, func(r probes.Result) {
				onResult(r)
				if n++; n == 3 {
					kb.typ("q")
					time.Sleep(50 * time.Millisecond) // the view goes; the probes go on
				}
			}, &workCtxErr)
		})
	if err != nil || d.Verdict.Rung != profiles.TP || workCtxErr != nil {
		t.Fatalf("RunScan: %v, %+v, scan context %v", err, d, workCtxErr)
	}
}

func replayScanWith(t *testing.T, ctx context.Context, onResult func(probes.Result), ctxErr *error) tui.ScanDone {
	d := replayScan(t, ctx, onResult)
	*ctxErr = ctx.Err()
	return d
}

// TestRunScanCtrlC: ctrl+c cancels the scan's context, as SIGINT does.
func TestRunScanCtrlC(t *testing.T) {
	kb := newKeyboard(t)
	_, err := tui.RunScan(context.Background(), tui.Terminal{In: kb.r, Out: &screenBuf{}, NoColor: true},
		tui.ScanOptions{Probes: suite.All()},
		func(ctx context.Context, onResult func(probes.Result)) tui.ScanDone {
			kb.typ("\x03")
			select {
			case <-ctx.Done():
				return tui.ScanDone{Err: ctx.Err()}
			case <-time.After(10 * time.Second):
				t.Error("ctrl+c did not cancel the scan")
				return tui.ScanDone{}
			}
		})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRunLaunch: the recorded phases reach the view, which ends by itself
// with the launch; nothing goes to the plain output.
func TestRunLaunch(t *testing.T) {
	rec := loadRecording(t)
	kb := newKeyboard(t)
	out := &screenBuf{}
	var plain bytes.Buffer
	err := tui.RunLaunch(context.Background(), tui.Terminal{In: kb.r, Out: out, NoColor: true},
		tui.LaunchOptions{Title: "kubernetes engine · T0"},
		func(launch.Phase) { plain.WriteString("phase\n") }, &plain,
		func(ctx context.Context, progress func(launch.Phase), say io.Writer) error {
			for _, p := range progressStream(rec.Phases) {
				progress(p)
			}
			return nil
		})
	if err != nil || plain.Len() > 0 {
		t.Fatalf("RunLaunch: %v, plain output %q", err, plain.String())
	}
	if s := out.String(); !strings.Contains(s, "✓ ready") || !strings.Contains(s, "probe pod Running") {
		t.Errorf("the last screen lacks the end:\n%s", s)
	}
}

// TestRunLaunchHidden: after q the launch goes on and what follows is
// printed as without the TUI; ctrl+c stops the launch.
func TestRunLaunchHidden(t *testing.T) {
	kb := newKeyboard(t)
	var mu sync.Mutex
	var plain bytes.Buffer
	plainProgress := func(p launch.Phase) {
		mu.Lock()
		defer mu.Unlock()
		plain.WriteString(p.Name + "\n")
	}
	plainLen := func() int {
		mu.Lock()
		defer mu.Unlock()
		return plain.Len()
	}
	var workCtxErr error
	err := tui.RunLaunch(context.Background(), tui.Terminal{In: kb.r, Out: &screenBuf{}, NoColor: true},
		tui.LaunchOptions{Title: "k3s engine · T1"}, plainProgress, &lockedWriter{&mu, &plain},
		func(ctx context.Context, progress func(launch.Phase), say io.Writer) error {
			progress(launch.Phase{Name: "preflight", Detail: "k3s binary, ports, data dir"})
			kb.typ("q")
			waitFor(t, "the plain output", func() bool {
				progress(launch.Phase{Name: "api", Detail: "k3s writes its kubeconfig and /readyz answers"})
				return plainLen() > 0
			})
			io.WriteString(say, "kprobe:   retrying T1 with the remedy\n")
			workCtxErr = ctx.Err()
			return nil
		})
	mu.Lock()
	got := plain.String()
	mu.Unlock()
	if err != nil || workCtxErr != nil || !strings.Contains(got, "api\n") || !strings.Contains(got, "retrying T1 with the remedy\n") {
		t.Fatalf("RunLaunch: %v, launch context %v, plain output %q", err, workCtxErr, got)
	}

	kb = newKeyboard(t)
	err = tui.RunLaunch(context.Background(), tui.Terminal{In: kb.r, Out: &screenBuf{}, NoColor: true},
		tui.LaunchOptions{}, plainProgress, io.Discard,
		func(ctx context.Context, progress func(launch.Phase), say io.Writer) error {
			progress(launch.Phase{Name: "preflight"})
			kb.typ("\x03")
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return errors.New("ctrl+c did not stop the launch")
			}
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ctrl+c: %v", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestWanted: the view is off without a terminal, with --no-tui or an
// explicit --output; --tui forces it. (On a terminal it comes on by
// itself, with NO_COLOR too: TestScanInTerminal, TestScanInSmallTerminal.)
func TestWanted(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	var buf bytes.Buffer
	for _, c := range []struct {
		name                    string
		force, never, outputSet bool
		noColor                 string
		want                    bool
	}{
		{name: "not a terminal"},
		{name: "--tui", force: true, want: true},
		{name: "--tui with NO_COLOR", force: true, noColor: "1", want: true},
		{name: "--no-tui", never: true},
		{name: "--output", outputSet: true},
		{name: "NO_COLOR without a terminal", noColor: "1"},
	} {
		t.Setenv("NO_COLOR", c.noColor)
		if got := tui.Wanted(c.force, c.never, c.outputSet, &buf, os.Stdout); got != c.want {
			t.Errorf("%s: Wanted = %v", c.name, got)
		}
	}
}
