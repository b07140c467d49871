package tui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/kprobe/kprobe/adapters/launchresult"
	"github.com/kprobe/kprobe/probes"
)

// Terminal is where a program runs: the keys it reads and the screen it
// draws on.
type Terminal struct {
	// In gives the keys. A terminal, or a reader that is not a file (a
	// test's pipe), is read as it is; otherwise (nil, a redirected
	// standard input) bubbletea reads standard input when it is a
	// terminal and the controlling terminal when it is not.
	In  io.Reader
	Out io.Writer
	// NoColor draws without colour (NO_COLOR, or a test).
	NoColor bool
}

func (t Terminal) options(ctx context.Context) []tea.ProgramOption {
	o := []tea.ProgramOption{tea.WithContext(ctx), tea.WithOutput(t.Out)}
	if _, file := t.In.(*os.File); t.In != nil && (!file || IsTerminal(t.In)) {
		o = append(o, tea.WithInput(t.In))
	}
	return o
}

// RunScan shows the scan view on t while work runs the scan in its own
// goroutine: work hands every finished probe to onResult, writes the
// profile and returns how the scan ended. RunScan returns when the user
// quits and work has returned, so that the caller's side effects happen
// as without the TUI. ctrl+c cancels work's context, as SIGINT does
// without the TUI. The error is the TUI's own (it could not start); the
// scan has run all the same.
func RunScan(ctx context.Context, t Terminal, o ScanOptions, work func(ctx context.Context, onResult func(probes.Result)) ScanDone) (ScanDone, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	o.Renderer = NewRenderer(t.Out, t.NoColor)
	p := tea.NewProgram(NewScanModel(o), append(t.options(ctx), tea.WithAltScreen())...)
	ended := make(chan ScanDone, 1)
	go func() {
		d := work(ctx, func(r probes.Result) { p.Send(ResultMsg{r}) })
		p.Send(ScanDoneMsg{d}) // a no-op once the program has ended
		ended <- d
	}()
	final, err := p.Run()
	if m, ok := final.(ScanModel); ok && m.Interrupted() || errors.Is(err, tea.ErrInterrupted) {
		cancel()
	}
	if errors.Is(err, tea.ErrInterrupted) || errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		err = nil // interrupted: the scan ends as it would without the TUI
	}
	return <-ended, err
}

// RunLaunch shows the launch view on t while work launches: work passes
// progress as launchresult.Options.Progress and say as LadderOptions.Say. When
// the user hides the view (q) or it cannot start, what follows goes to
// plainProgress and plainSay, the output without the TUI. ctrl+c cancels
// work's context, as SIGINT does. RunLaunch returns work's error.
func RunLaunch(ctx context.Context, t Terminal, o LaunchOptions, plainProgress func(launchresult.Phase), plainSay io.Writer,
	work func(ctx context.Context, progress func(launchresult.Phase), say io.Writer) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	o.Renderer = NewRenderer(t.Out, t.NoColor)
	p := tea.NewProgram(NewLaunchModel(o), t.options(ctx)...)
	r := &router{p: p, live: true, plainProgress: plainProgress, plainSay: plainSay}
	ended := make(chan error, 1)
	go func() {
		err := work(ctx, r.progress, &lineWriter{send: r.say})
		p.Send(LaunchDoneMsg{err})
		ended <- err
	}()
	final, uiErr := p.Run()
	r.detach()
	if m, ok := final.(LaunchModel); ok && m.Stopped() || errors.Is(uiErr, tea.ErrInterrupted) {
		cancel()
	}
	if uiErr != nil && !errors.Is(uiErr, tea.ErrInterrupted) && ctx.Err() == nil {
		io.WriteString(plainSay, "kprobe: the launch view stopped ("+uiErr.Error()+"); plain output follows\n")
	}
	return <-ended
}

// router sends the launch's progress to the program while it runs and to
// the plain output after.
type router struct {
	mu            sync.Mutex
	p             *tea.Program
	live          bool
	plainProgress func(launchresult.Phase)
	plainSay      io.Writer
}

func (r *router) progress(ph launchresult.Phase) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live {
		r.p.Send(PhaseMsg{ph})
	} else if r.plainProgress != nil {
		r.plainProgress(ph)
	}
}

func (r *router) say(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live {
		r.p.Send(SayMsg{line})
	} else if r.plainSay != nil {
		io.WriteString(r.plainSay, line+"\n")
	}
}

func (r *router) detach() {
	r.mu.Lock()
	r.live = false
	r.mu.Unlock()
}

// lineWriter hands each complete line written to it to send.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	send func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		w.send(line)
	}
}
