package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/kprobe/kprobe/adapters/launchresult"
)

// PhaseMsg is a launch phase starting or ending, as launchresult.Options.Progress
// delivers it.
type PhaseMsg struct{ Phase launchresult.Phase }

// SayMsg is one line of the ladder's decisions (launchresult.LadderOptions.Say).
type SayMsg struct{ Line string }

// LaunchDoneMsg ends the launch: Err is nil when the cluster is ready.
type LaunchDoneMsg struct{ Err error }

// LaunchOptions set up a launch view.
type LaunchOptions struct {
	// Title says what is launched: engine, rung, data dir.
	Title    string
	Renderer *lipgloss.Renderer
	Clock    func() time.Time
	Width    int // until the terminal says; 0 means 100
}

type phaseState int

const (
	running phaseState = iota
	succeeded
	failed
)

type phaseRow struct {
	name, detail string
	began        time.Time // when the view heard of it
	state        phaseState
	tookMS       float64
}

// attempt is one try of the ladder: its phases, then what the ladder
// decided about it.
type attempt struct {
	phases []phaseRow
	say    []string
}

// LaunchModel is the live view of a launch: each attempt's phases with
// their time, the ones running with what they wait for, and the ladder's
// decisions between attempts. It ends by itself when the launch does.
type LaunchModel struct {
	st        styles
	clock     func() time.Time
	start, at time.Time
	end       time.Time // when the launch ended
	width     int
	height    int // the terminal's, once it says; 0 means unknown
	title     string
	attempts  []attempt
	done      bool
	err       error
	spin      spinner.Model
	help      help.Model
	hide      key.Binding
	stop      key.Binding
	hidden    bool
	stopped   bool
}

// NewLaunchModel is the view of a launch.
func NewLaunchModel(o LaunchOptions) LaunchModel {
	if o.Renderer == nil {
		o.Renderer = lipgloss.DefaultRenderer()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Width <= 0 {
		o.Width = 100
	}
	st := newStyles(o.Renderer)
	m := LaunchModel{
		st: st, clock: o.Clock, width: o.Width, title: o.Title,
		attempts: []attempt{{}},
		spin:     spinner.New(spinner.WithSpinner(spinner.MiniDot), spinner.WithStyle(st.yellow)),
		help:     st.help(),
		hide:     key.NewBinding(key.WithKeys("q", "esc"), key.WithHelp("q", "hide this view (the launch goes on)")),
		stop:     key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "stop the launch")),
	}
	m.start = m.clock()
	m.at = m.start
	return m
}

// Init starts the spinner.
func (m LaunchModel) Init() tea.Cmd { return m.spin.Tick }

// Stopped reports whether the user pressed ctrl+c: the launch is to be
// interrupted as SIGINT does without the TUI.
func (m LaunchModel) Stopped() bool { return m.stopped }

// Update applies one message. It does no I/O.
func (m LaunchModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.at = m.clock()
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case PhaseMsg:
		m.phase(msg.Phase)
	case SayMsg:
		a := &m.attempts[len(m.attempts)-1]
		a.say = append(a.say, msg.Line)
	case LaunchDoneMsg:
		m.done, m.err, m.end = true, msg.Err, m.at
		return m, tea.Quit
	case spinner.TickMsg:
		if m.done {
			return m, nil
		}
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, m.stop):
			m.stopped = true
			return m, tea.Quit
		case key.Matches(msg, m.hide):
			m.hidden = true
			return m, tea.Quit
		}
	}
	return m, nil
}

// phase records a phase starting (Done false, TookMS 0) or ending. A
// phase that starts again begins the next attempt of the ladder.
func (m *LaunchModel) phase(p launchresult.Phase) {
	a := &m.attempts[len(m.attempts)-1]
	starting := !p.Done && p.TookMS == 0
	for i := range a.phases {
		r := &a.phases[i]
		if r.name != p.Name {
			continue
		}
		if starting {
			if r.state == running {
				return // already shown
			}
			m.attempts = append(m.attempts, attempt{})
			a = &m.attempts[len(m.attempts)-1]
			break
		}
		r.tookMS = p.TookMS
		r.state = failed
		if p.Done {
			r.state = succeeded
		} else {
			r.detail = p.Detail // the error
		}
		return
	}
	r := phaseRow{name: p.Name, detail: p.Detail, began: m.at}
	if !starting { // an end we did not see start
		r.state, r.tookMS = failed, p.TookMS
		if p.Done {
			r.state = succeeded
		}
	}
	a.phases = append(a.phases, r)
}

// View draws the attempts and a footer with what the launch waits for.
func (m LaunchModel) View() string {
	lines := m.lines(false)
	if m.height > 0 && len(lines) > m.height {
		// Earlier attempts shrink to their failure and the ladder's
		// lines; if it is still too tall, the title and the newest lines
		// stay (the terminal would scroll the title away).
		lines = m.lines(true)
		if len(lines) > m.height {
			lines = append(lines[:1], lines[len(lines)-m.height+1:]...)
		}
	}
	return strings.Join(lines, "\n")
}

// lines are the view's lines; compact leaves out the phases that
// succeeded in every attempt but the last.
func (m LaunchModel) lines(compact bool) []string {
	var lines []string
	head := m.st.bold.Render("kprobe launch") + "  "
	if !m.done && !m.hidden && !m.stopped {
		head += m.spin.View() + " "
	}
	end := m.at
	if m.done {
		end = m.end
	}
	head += m.title + " · " + fmt.Sprintf("%.1fs", end.Sub(m.start).Seconds())
	lines = append(lines, truncate(head, m.width))
	nameWidth := 10
	for _, a := range m.attempts {
		for _, p := range a.phases {
			nameWidth = max(nameWidth, len(p.name))
		}
	}
	var waiting []string
	for n, a := range m.attempts {
		if len(m.attempts) > 1 {
			lines = append(lines, m.st.bold.Render(fmt.Sprintf("attempt %d", n+1)))
		}
		for _, p := range a.phases {
			if compact && n < len(m.attempts)-1 && p.state == succeeded {
				continue
			}
			name := padRight(p.name, nameWidth)
			switch p.state {
			case running:
				took := fmt.Sprintf("%6.1fs", m.at.Sub(p.began).Seconds())
				lines = append(lines, truncate("  "+m.spin.View()+" "+name+" "+took+"  "+m.st.dim.Render("waiting for "+p.detail), m.width))
				waiting = append(waiting, p.detail)
			case succeeded:
				took := fmt.Sprintf("%6.2fs", p.tookMS/1000)
				lines = append(lines, truncate("  "+m.st.green.Render("✓")+" "+name+" "+took+"  "+m.st.dim.Render(p.detail), m.width))
			case failed:
				took := fmt.Sprintf("%6.2fs", p.tookMS/1000)
				// One line: the ladder's lines below, or the error after
				// the view, say the rest.
				lines = append(lines, truncate("  "+m.st.red.Render("✗")+" "+name+" "+took+"  "+m.st.red.Render(firstLine(p.detail)), m.width))
			}
		}
		for _, s := range a.say {
			s = strings.TrimPrefix(s, "kprobe: ")
			body := strings.TrimLeft(s, " ")
			indent := strings.Repeat(" ", 4+len(s)-len(body))
			style := m.st.yellow
			if strings.HasPrefix(body, "fix:") {
				style = m.st.plain
			}
			lines = append(lines, wrap(body, m.width, indent, indent+"  ", style)...)
		}
	}
	var foot string
	switch {
	case m.done && m.err == nil:
		foot = m.st.green.Render("✓ ready") + fmt.Sprintf(" after %.1fs", end.Sub(m.start).Seconds())
	case m.done:
		foot = m.st.red.Render("✗ " + firstLine(m.err.Error()))
	case m.stopped:
		foot = m.st.red.Render("stopping the launch (ctrl+c)")
	case m.hidden:
		foot = m.st.dim.Render("view closed; the launch goes on below")
	default:
		foot = "waiting for " + strings.Join(waiting, ", ")
		if len(waiting) == 0 {
			foot = "starting…"
		}
		m.help.Width = m.width
		foot += "\n" + m.help.ShortHelpView([]key.Binding{m.hide, m.stop})
	}
	for _, l := range strings.Split(foot, "\n") {
		lines = append(lines, truncate(l, m.width))
	}
	if m.done || m.hidden || m.stopped {
		// The last frame stays on the terminal; bubbletea erases the
		// line the cursor is on when it stops, so leave it empty.
		lines = append(lines, "")
	}
	return lines
}
