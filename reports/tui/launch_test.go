package tui_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/datadir"
	"github.com/kprobe/kprobe/adapters/launch"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports/tui"
)

// recording is a real launch's phases (testdata/launch-recorded.json).
type recording struct {
	Engine  string         `json:"engine"`
	Rung    string         `json:"rung"`
	DataDir string         `json:"dataDir"`
	Phases  []launch.Phase `json:"phases"`
}

func loadRecording(t *testing.T) recording {
	t.Helper()
	data, err := os.ReadFile("testdata/launch-recorded.json")
	if err != nil {
		t.Fatal(err)
	}
	var r recording
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Phases) == 0 {
		t.Fatal("no phases recorded")
	}
	return r
}

// progressStream turns the recorded phase ends back into what
// Options.Progress delivers: each phase's start (AtMS of the end minus
// TookMS, its detail) and its end, in time order.
func progressStream(ends []launch.Phase) []launch.Phase {
	var out []launch.Phase
	for _, e := range ends {
		out = append(out, launch.Phase{Name: e.Name, Detail: e.Detail, AtMS: e.AtMS - e.TookMS}, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].AtMS < out[j].AtMS })
	return out
}

// timed is a message and the time (ms since the command started) the
// view receives it.
type timed struct {
	atMS float64
	msg  tea.Msg
}

// ladderRun drives the real fallback ladder (launch.Ladder, its log
// diagnosis and its decisions) with attempts that replay the recorded
// phases: the first one's kubelet dies on a sandbox without /dev/kmsg,
// the retry with the kmsg shim gets ready. It returns what the view is
// sent, with the times it arrives.
func ladderRun(t *testing.T, rec recording) []timed {
	t.Helper()
	dataDir := t.TempDir()
	// The ladder stops each failed attempt, and stop acts only on a data
	// dir kprobe made.
	if err := datadir.Create(dataDir); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dataDir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	stream := progressStream(rec.Phases)
	var msgs []timed
	base, last := 0.0, 0.0
	progress := func(p launch.Phase) {
		if p.Name == "preflight" && !p.Done && len(msgs) > 0 {
			base = last + 350 // the ladder stops the failed attempt
		}
		last = base + p.AtMS
		msgs = append(msgs, timed{last, tui.PhaseMsg{Phase: p}})
	}
	say := &lines{send: func(s string) { last += 1; msgs = append(msgs, timed{last, tui.SayMsg{Line: s}}) }}

	attempt := 0
	run := func(_ context.Context, plan *adapters.Plan, o launch.Options) (*launch.Result, error) {
		attempt++
		res := &launch.Result{Engine: rec.Engine, Rung: string(plan.Rung)}
		for _, p := range stream {
			if attempt == 1 && p.Name == "node" && p.Done {
				// The kubelet exits 1.2 s into the node phase.
				line := `E1128 18:40:13.102354   41268 run.go:72] "command failed" err="failed to run Kubelet: failed to create kubelet: open /dev/kmsg: no such file or directory"`
				if err := os.WriteFile(filepath.Join(logs, "kubelet.log"), []byte(line+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				d := launch.DiagnoseLogs(logs)
				if d == nil {
					t.Fatal("the kubelet's /dev/kmsg line is not a known signature")
				}
				o.Progress(launch.Phase{Name: "node", Detail: d.Error(), AtMS: p.AtMS - p.TookMS + 1200, TookMS: 1200})
				return res, d
			}
			if attempt == 1 && p.Name == "pod" {
				break
			}
			o.Progress(p)
		}
		res.Ready = true
		return res, nil
	}
	attempts, err := launch.Ladder(context.Background(), &profiles.Profile{Facts: probes.Facts{}},
		launch.Options{DataDir: dataDir, Progress: progress},
		launch.LadderOptions{Engine: rec.Engine, Run: run, Diagnose: launch.DiagnoseLogs, Say: say}, profiles.Rung(rec.Rung))
	if err != nil || len(attempts) != 2 {
		t.Fatalf("the ladder: %v, %d attempts", err, len(attempts))
	}
	return append(msgs, timed{last + 5, tui.LaunchDoneMsg{}})
}

// lines is the LadderOptions.Say writer of the test: one message a line.
type lines struct {
	buf  string
	send func(string)
}

func (l *lines) Write(b []byte) (int, error) {
	l.buf += string(b)
	for {
		i := strings.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.send(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func launchModel(c *clock, rec recording) tui.LaunchModel {
	return tui.NewLaunchModel(tui.LaunchOptions{
		Title:    rec.Engine + " engine · " + rec.Rung + " · " + rec.DataDir,
		Renderer: tui.NewRenderer(io.Discard, true), Clock: c.now, Width: 100,
	})
}

// play feeds the messages up to (not including) the first one for which
// stop is true, at their times, and returns the rest.
func play(t *testing.T, c *clock, start time.Time, m tea.Model, msgs []timed, stop func(tea.Msg) bool) (tea.Model, []timed) {
	t.Helper()
	for i, tm := range msgs {
		if stop != nil && stop(tm.msg) {
			return m, msgs[i:]
		}
		c.t = start.Add(time.Duration(tm.atMS * float64(time.Millisecond)))
		var cmd tea.Cmd
		m, cmd = m.Update(tm.msg)
		if _, end := tm.msg.(tui.LaunchDoneMsg); !end && quits(cmd) {
			t.Fatalf("%T quit the view", tm.msg)
		}
	}
	return m, nil
}

// later lets the clock run on with no event, as the spinner's ticks do.
func later(c *clock, m tea.Model, d time.Duration) tea.Model {
	c.t = c.t.Add(d)
	m, _ = m.Update(tea.WindowSizeMsg{Width: 100, Height: 40})
	return m
}

func phaseIs(name string, done bool) func(tea.Msg) bool {
	return func(msg tea.Msg) bool {
		p, ok := msg.(tui.PhaseMsg)
		return ok && p.Phase.Name == name && (p.Phase.Done || p.Phase.TookMS > 0) == done
	}
}

// TestLaunchView plays a recorded launch through the real ladder: the
// view while the API boots, the failed first attempt with the ladder's
// diagnosis and fix, the retry, and the end.
func TestLaunchView(t *testing.T) {
	rec := loadRecording(t)
	msgs := ladderRun(t, rec)
	c := newClock(0)
	start := c.t
	var m tea.Model = launchModel(c, rec)
	if m.Init() == nil {
		t.Fatal("Init starts no spinner")
	}

	// Attempt 1, one second into the wait for the API server: images
	// imported, /readyz not yet.
	m, rest := play(t, c, start, m, msgs, phaseIs("api", true))
	m = later(c, m, time.Second)
	got := screen(t, m, 100, 0)
	if !strings.Contains(got, "waiting for kube-apiserver /readyz") {
		t.Errorf("the view does not say what it waits for:\n%s", got)
	}
	golden(t, "launch-waiting", got)

	// The kubelet fails, the ladder retries with the kmsg shim; attempt 2
	// waits for the node.
	first := true
	m, rest = play(t, c, start, m, rest, func(msg tea.Msg) bool {
		if phaseIs("node", true)(msg) {
			if first {
				first = false
				return false
			}
			return true
		}
		return false
	})
	m = later(c, m, 400*time.Millisecond)
	got = screen(t, m, 100, 0)
	for _, want := range []string{"attempt 2", "SIG-KMSG-ENOENT", "retrying T0 with the remedy", "waiting for node kprobe-node Ready"} {
		if !strings.Contains(got, want) {
			t.Errorf("the ladder view lacks %q:\n%s", want, got)
		}
	}
	golden(t, "launch-ladder", got)

	// Ready: the view ends by itself.
	m, _ = play(t, c, start, m, rest, nil)
	golden(t, "launch-ready", screen(t, m, 100, 0))
}

// TestLaunchViewKeys: q hides the view, ctrl+c stops the launch.
func TestLaunchViewKeys(t *testing.T) {
	rec := loadRecording(t)
	c := newClock(10 * time.Millisecond)
	m := feed(t, c, launchModel(c, rec), tui.PhaseMsg{Phase: launch.Phase{Name: "preflight", Detail: "binaries"}})
	hidden, cmd := m.Update(keys("q")[0])
	if !quits(cmd) || hidden.(tui.LaunchModel).Stopped() || !strings.Contains(hidden.View(), "the launch goes on") {
		t.Errorf("q: %s", hidden.View())
	}
	stopped, cmd := m.Update(keys("ctrl+c")[0])
	if !quits(cmd) || !stopped.(tui.LaunchModel).Stopped() {
		t.Errorf("ctrl+c: %s", stopped.View())
	}
}
