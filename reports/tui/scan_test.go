package tui_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/capture"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports/tui"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const sandboxes = "../../probes/testdata/sandboxes"

// clock is the injected time: each message moves it on by step.
type clock struct {
	t    time.Time
	step time.Duration
}

func (c *clock) now() time.Time { return c.t }

func newClock(step time.Duration) *clock {
	return &clock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC), step: step}
}

// replay runs the whole suite against a captured sandbox, the way
// `kprobe scan --from-capture` does, and returns the results in the order
// the runner delivered them (OnResult) and the scan.
func replay(t *testing.T, name string) ([]probes.Result, *probes.Scan) {
	t.Helper()
	env, err := capture.ReplayEnv(filepath.Join(sandboxes, name), suite.All())
	if err != nil {
		t.Fatal(err)
	}
	var delivered []probes.Result
	s := probes.Run(context.Background(), env, suite.All(), probes.Options{
		OnResult: func(r probes.Result) { delivered = append(delivered, r) },
	})
	return delivered, s
}

// feed applies msgs in order, the clock moving on before each, and fails
// on a message that asks to quit unless it is the last.
func feed(t *testing.T, c *clock, m tea.Model, msgs ...tea.Msg) tea.Model {
	t.Helper()
	for i, msg := range msgs {
		c.t = c.t.Add(c.step)
		var cmd tea.Cmd
		m, cmd = m.Update(msg)
		if i < len(msgs)-1 && quits(cmd) {
			t.Fatalf("message %d (%T %v) quit the program", i, msg, msg)
		}
	}
	return m
}

// quits reports whether cmd is tea.Quit (spinner ticks are timers and
// are not run).
func quits(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		_, ok := msg.(tea.QuitMsg)
		return ok
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

func keys(names ...string) []tea.Msg {
	var out []tea.Msg
	for _, n := range names {
		switch n {
		case "down":
			out = append(out, tea.KeyMsg{Type: tea.KeyDown})
		case "up":
			out = append(out, tea.KeyMsg{Type: tea.KeyUp})
		case "enter":
			out = append(out, tea.KeyMsg{Type: tea.KeyEnter})
		case "tab":
			out = append(out, tea.KeyMsg{Type: tea.KeyTab})
		case "end":
			out = append(out, tea.KeyMsg{Type: tea.KeyEnd})
		case "home":
			out = append(out, tea.KeyMsg{Type: tea.KeyHome})
		case "ctrl+c":
			out = append(out, tea.KeyMsg{Type: tea.KeyCtrlC})
		default:
			out = append(out, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(n)})
		}
	}
	return out
}

// screen is the view as a terminal shows it: lines without the
// viewport's padding. It checks the view fits width x height.
func screen(t *testing.T, m tea.Model, width, height int) string {
	t.Helper()
	v := m.View()
	lines := strings.Split(v, "\n")
	if height > 0 && len(lines) != height {
		t.Errorf("the view has %d lines, the terminal %d", len(lines), height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			t.Errorf("line %d is %d cells wide, the terminal %d: %q", i+1, w, width, l)
		}
		lines[i] = strings.TrimRight(l, " ")
	}
	if v != ansi.Strip(v) {
		t.Errorf("the view has escape sequences although colour is off")
	}
	return strings.Join(lines, "\n") + "\n"
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	probetest.Golden(t, filepath.Join("testdata", name+".golden"), []byte(got), *update,
		"rerun go test ./reports/tui -update")
}

func scanModel(c *clock, width, height int) tui.ScanModel {
	return tui.NewScanModel(tui.ScanOptions{
		Probes: suite.All(), Source: "live", Renderer: tui.NewRenderer(io.Discard, true),
		Clock: c.now, Width: width, Height: height,
	})
}

func results(rs []probes.Result) []tea.Msg {
	var out []tea.Msg
	for _, r := range rs {
		out = append(out, tui.ResultMsg{Result: r})
	}
	return out
}

func done(s *probes.Scan, profile string, err error) tea.Msg {
	p := profiles.FromScan(s, "test", time.Time{})
	return tui.ScanDoneMsg{Done: tui.ScanDone{Verdict: p.Verdict, Identity: p.Identity, Profile: profile, Err: err}}
}

// TestScanView replays the gVisor sandbox through the view: probes
// arriving while others run, the end with its verdict, then the keys.
func TestScanView(t *testing.T) {
	const w, h = 100, 40
	delivered, s := replay(t, "gvisor-run")
	c := newClock(40 * time.Millisecond)
	var m tea.Model = scanModel(c, w, h)
	if cmd := m.Init(); cmd == nil {
		t.Fatal("Init starts no spinner")
	}

	// Live: a third of the probes finished, in suite order so that the
	// screen does not depend on goroutine scheduling.
	m = feed(t, c, m, results(s.Results[:7])...)
	golden(t, "scan-live", screen(t, m, w, h))

	// The runner's own order, then the end of the scan.
	m = feed(t, c, m, results(delivered)...)
	m = feed(t, c, m, done(s, "/tmp/kprobe/profile.toml", nil))
	if !m.(tui.ScanModel).Done() {
		t.Fatal("the scan did not end")
	}
	golden(t, "scan-done", screen(t, m, w, h))

	// Down to the privileges probe and its evidence.
	m = feed(t, c, m, keys("down", "down", "enter")...)
	golden(t, "scan-expanded", screen(t, m, w, h))
	// pgdown scrolls through the long block, the selection stays; a move
	// brings the selection back into view.
	m = feed(t, c, m, tea.KeyMsg{Type: tea.KeyPgDown})
	if v := m.View(); strings.Contains(v, "> block   privileges") || !strings.Contains(v, "priv.uid = 0") {
		t.Errorf("pgdown did not scroll the evidence:\n%s", v)
	}
	m = feed(t, c, m, keys("up", "down")...)
	if v := m.View(); !strings.Contains(v, "> block   privileges") {
		t.Errorf("the selection is out of view after a move:\n%s", v)
	}
	// Close it; filter the blockers, the next one.
	m = feed(t, c, m, keys("enter", "f", "down")...)
	golden(t, "scan-filter-block", screen(t, m, w, h))
	// tab cycles on: warnings.
	m = feed(t, c, m, keys("tab")...)
	if v := m.View(); !strings.Contains(v, "showing warn only") || strings.Contains(v, "block   ") {
		t.Errorf("the warn filter shows:\n%s", v)
	}

	// q quits, ctrl+c quits and stops the scan.
	if _, cmd := m.Update(keys("q")[0]); !quits(cmd) {
		t.Error("q does not quit")
	}
	m2, cmd := m.Update(keys("ctrl+c")[0])
	if !quits(cmd) || !m2.(tui.ScanModel).Interrupted() {
		t.Error("ctrl+c does not quit and interrupt")
	}
}

// TestScanViewScrolls keeps the selection on a small screen: at the end
// of the list, the last probe and its blocker are in view.
func TestScanViewScrolls(t *testing.T) {
	const w, h = 72, 16
	_, s := replay(t, "gvisor-run")
	c := newClock(10 * time.Millisecond)
	m := feed(t, c, scanModel(c, w, h), append(results(s.Results), done(s, "", nil))...)
	m = feed(t, c, m, keys("end")...)
	got := screen(t, m, w, h)
	if !strings.Contains(got, "> block   container") || !strings.Contains(got, "KP-CT-001") {
		t.Errorf("the last probe is not in view:\n%s", got)
	}
	golden(t, "scan-small-end", got)
	// And back to the top.
	m = feed(t, c, m, keys("home")...)
	if got := screen(t, m, w, h); !strings.Contains(got, "> ok      identity") {
		t.Errorf("home does not go back to the first probe:\n%s", got)
	}
}

// TestScanViewHost is a sandbox without blockers: the verdict T0, and a
// profile that could not be written.
func TestScanViewHost(t *testing.T) {
	const w, h = 100, 30
	_, s := replay(t, "host")
	c := newClock(10 * time.Millisecond)
	m := feed(t, c, scanModel(c, w, h), append(results(s.Results),
		done(s, "", errors.New("open /nonexistent/p.toml: no such file or directory")))...)
	m = feed(t, c, m, tea.WindowSizeMsg{Width: 90, Height: 24})
	golden(t, "scan-host", screen(t, m, 90, 24))
}

// TestScanViewFits80x24: on the smallest usual terminal the whole view
// fits and the verdict is never cut, however long its title.
func TestScanViewFits80x24(t *testing.T) {
	const w, h = 80, 24
	_, s := replay(t, "gvisor-run")
	c := newClock(10 * time.Millisecond)
	m := feed(t, c, scanModel(c, w, h), append(results(s.Results), done(s, "profile.toml", nil))...)
	got := screen(t, m, w, h)
	v := profiles.FromScan(s, "test", time.Time{}).Verdict
	flat := strings.Join(strings.Fields(got), " ")
	if want := "verdict: " + string(v.Rung) + " — " + v.Title; !strings.Contains(flat, want) {
		t.Errorf("the verdict is cut; want %q in:\n%s", want, got)
	}
	if !strings.Contains(got, "q quit") {
		t.Errorf("the keys are not in view:\n%s", got)
	}
}
