package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
)

// ResultMsg is one finished probe, as probes.Options.OnResult delivers it.
type ResultMsg struct{ Result probes.Result }

// ScanDone ends a scan: the verdict, and where the profile was written.
type ScanDone struct {
	Verdict  profiles.Verdict
	Identity profiles.Identity
	// Profile is the path the profile was written to; "" when none was asked.
	Profile string
	// Err says why the profile could not be written.
	Err error
}

// ScanDoneMsg is the message that ends the scan in the view.
type ScanDoneMsg struct{ Done ScanDone }

// ScanOptions set up a scan view.
type ScanOptions struct {
	// Probes are the probes that run, in the order of the output; those
	// not finished yet are shown as running.
	Probes []probes.Probe
	// Source is "live" or the capture being replayed.
	Source string
	// Renderer styles the view; nil means lipgloss's default.
	Renderer *lipgloss.Renderer
	// Clock gives the time the elapsed time is measured with; nil means
	// time.Now (tests inject one).
	Clock func() time.Time
	// Width and Height until the terminal says its size; 0 means 100x40.
	Width, Height int
}

// filters are the statuses f cycles through.
var filters = []probes.Status{"all", probes.StatusBlock, probes.StatusWarn, probes.StatusOK, probes.StatusUnknown}

type scanKeys struct {
	up, down, page, expand, filter, quit key.Binding
}

func newScanKeys() scanKeys {
	return scanKeys{
		up:     key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/↓", "move")),
		down:   key.NewBinding(key.WithKeys("down", "j")),
		page:   key.NewBinding(key.WithKeys("pgup", "pgdown", "home", "end"), key.WithHelp("pgup/pgdn", "scroll")),
		expand: key.NewBinding(key.WithKeys("enter", " "), key.WithHelp("enter", "evidence")),
		filter: key.NewBinding(key.WithKeys("f", "tab", "shift+tab"), key.WithHelp("f", "filter: all")),
		quit:   key.NewBinding(key.WithKeys("q", "esc", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

type scanRow struct {
	id     string
	domain probes.Domain
	res    *probes.Result // nil while the probe runs
}

// ScanModel is the live view of a scan: every probe grouped by domain,
// running ones with a spinner, blockers with their fix under their probe,
// the evidence and facts of a probe on enter, a status filter, and at the
// end the verdict and where the profile went.
type ScanModel struct {
	st            styles
	clock         func() time.Time
	start, at     time.Time
	end           time.Time // when the scan ended
	width, height int
	source        string
	rows          []scanRow
	index         map[string]int
	idWidth       int
	finished      int
	done          *ScanDone
	cursor        int  // index into rows
	follow        bool // scroll to the selection; off after pgup/pgdown
	expanded      map[string]bool
	filter        int
	spin          spinner.Model
	vp            viewport.Model
	help          help.Model
	keys          scanKeys
	interrupted   bool
	quitting      bool
}

// NewScanModel is the view of a scan of o.Probes.
func NewScanModel(o ScanOptions) ScanModel {
	if o.Renderer == nil {
		o.Renderer = lipgloss.DefaultRenderer()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = 100, 40
	}
	st := newStyles(o.Renderer)
	m := ScanModel{
		st: st, clock: o.Clock, width: o.Width, height: o.Height, source: o.Source,
		index: map[string]int{}, expanded: map[string]bool{},
		spin: spinner.New(spinner.WithSpinner(spinner.MiniDot), spinner.WithStyle(st.yellow)),
		vp:   viewport.New(o.Width, o.Height),
		help: st.help(),
		keys: newScanKeys(),
	}
	m.start = m.clock()
	m.at = m.start
	m.follow = true
	// Rows in the order of the text report: by domain, then suite order.
	for _, d := range probes.DomainOrder {
		for _, p := range o.Probes {
			if p.Domain() == d {
				m.index[p.ID()] = len(m.rows)
				m.rows = append(m.rows, scanRow{id: p.ID(), domain: d})
				m.idWidth = max(m.idWidth, len(p.ID()))
			}
		}
	}
	m.sync()
	return m
}

// Init starts the spinner.
func (m ScanModel) Init() tea.Cmd { return m.spin.Tick }

// Interrupted reports whether the user left with ctrl+c, which stops the
// scan as SIGINT does without the TUI.
func (m ScanModel) Interrupted() bool { return m.interrupted }

// Done reports whether the scan has ended.
func (m ScanModel) Done() bool { return m.done != nil }

// Update applies one message. It does no I/O.
func (m ScanModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.at = m.clock()
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case ResultMsg:
		r := msg.Result
		i, ok := m.index[r.ID]
		if !ok {
			i = len(m.rows)
			m.index[r.ID] = i
			m.rows = append(m.rows, scanRow{id: r.ID, domain: r.Domain})
			m.idWidth = max(m.idWidth, len(r.ID))
		}
		if m.rows[i].res == nil {
			m.finished++
		}
		m.rows[i].res = &r
	case ScanDoneMsg:
		d := msg.Done
		m.done, m.end = &d, m.at
	case spinner.TickMsg:
		if m.done != nil {
			return m, nil // the scan is over: stop ticking
		}
		m.spin, cmd = m.spin.Update(msg)
	case tea.KeyMsg:
		switch {
		case msg.String() == "ctrl+c":
			m.interrupted, m.quitting = true, true
			return m, tea.Quit
		case key.Matches(msg, m.keys.quit):
			m.quitting = true
			return m, tea.Quit
		case key.Matches(msg, m.keys.up):
			m.move(-1)
		case key.Matches(msg, m.keys.down):
			m.move(1)
		case key.Matches(msg, m.keys.page):
			switch msg.String() {
			case "pgup":
				m.vp.PageUp()
				m.follow = false
			case "pgdown":
				m.vp.PageDown()
				m.follow = false
			case "home":
				m.move(-len(m.rows))
			case "end":
				m.move(len(m.rows))
			}
		case key.Matches(msg, m.keys.expand):
			if v := m.visible(); len(v) > 0 {
				id := m.rows[m.cursor].id
				m.expanded[id] = !m.expanded[id]
				m.follow = true
			}
		case key.Matches(msg, m.keys.filter):
			m.follow = true
			step := 1
			if msg.String() == "shift+tab" {
				step = len(filters) - 1
			}
			m.filter = (m.filter + step) % len(filters)
			m.keys.filter.SetHelp("f", "filter: "+string(filters[m.filter]))
		}
	}
	m.sync()
	return m, cmd
}

func (m ScanModel) shown(r scanRow) bool {
	f := filters[m.filter]
	return f == "all" || (r.res != nil && r.res.Status == f)
}

// visible lists the indexes of the rows the filter lets through.
func (m ScanModel) visible() []int {
	var out []int
	for i, r := range m.rows {
		if m.shown(r) {
			out = append(out, i)
		}
	}
	return out
}

// move steps the cursor by n visible rows.
func (m *ScanModel) move(n int) {
	v := m.visible()
	if len(v) == 0 {
		return
	}
	pos := 0
	for i, r := range v {
		if r <= m.cursor {
			pos = i
		}
	}
	pos = min(max(pos+n, 0), len(v)-1)
	m.cursor = v[pos]
	m.follow = true
}

// bodyHeight is what the two header lines, the verdict and the two
// footer lines leave.
func (m ScanModel) bodyHeight() int { return max(m.height-4-len(m.verdictLines()), 1) }

// verdictLines is the verdict wrapped to the width, never cut: it is the
// answer the scan exists for (at most three lines, on an 80x24 terminal
// it takes two).
func (m ScanModel) verdictLines() []string {
	if m.done == nil {
		return []string{m.st.dim.Render("scanning…")}
	}
	v := m.done.Verdict
	head := "verdict: " + string(v.Rung)
	lines := wrap(head+" — "+v.Title, m.width, "", "  ", m.st.plain)
	lines[0] = m.st.bold.Render(head) + strings.TrimPrefix(ansi.Strip(lines[0]), head)
	if len(lines) > 3 {
		lines = lines[:3]
	}
	for i := range lines {
		lines[i] = truncate(lines[i], m.width)
	}
	return lines
}

// sync lays the body out in the viewport and scrolls it so that the
// selected probe and what is shown under it are in view.
func (m *ScanModel) sync() {
	v := m.visible()
	if len(v) > 0 && !m.shown(m.rows[m.cursor]) {
		// The filter hid the selection: take the next row it shows.
		next := v[len(v)-1]
		for _, i := range v {
			if i >= m.cursor {
				next = i
				break
			}
		}
		m.cursor = next
	}
	lines, top, bottom := m.body()
	m.vp.Width, m.vp.Height = m.width, m.bodyHeight()
	m.vp.SetContent(strings.Join(lines, "\n"))
	if !m.follow {
		return
	}
	y := m.vp.YOffset
	if bottom >= y+m.vp.Height {
		y = bottom - m.vp.Height + 1
	}
	if top < y {
		y = top
	}
	m.vp.SetYOffset(y)
}

// body renders every visible row and returns the lines and the first and
// last line of the selected row's block.
func (m ScanModel) body() (lines []string, top, bottom int) {
	var domain probes.Domain
	heading := -1
	for i, r := range m.rows {
		if !m.shown(r) {
			continue
		}
		if r.domain != domain {
			domain = r.domain
			heading = len(lines)
			lines = append(lines, m.st.bold.Render(string(domain)))
		}
		sel := i == m.cursor
		if sel {
			top = len(lines)
			if heading == len(lines)-1 {
				top = heading // keep the domain in view with its first probe
			}
		}
		lines = append(lines, m.row(r, sel))
		lines = append(lines, m.details(r)...)
		if sel {
			bottom = len(lines) - 1
		}
	}
	if len(lines) == 0 {
		lines = append(lines, m.st.dim.Render(fmt.Sprintf("  no probe is %s", filters[m.filter])))
	}
	return lines, top, bottom
}

func (m ScanModel) row(r scanRow, sel bool) string {
	mark := "  "
	if sel {
		mark = "> "
	}
	id := padRight(r.id, m.idWidth)
	if sel {
		id = m.st.selected.Render(id)
	}
	var status, line string
	if r.res == nil {
		status = padRight(m.spin.View(), 7)
		line = m.st.dim.Render("running")
	} else {
		status = m.st.status(r.res.Status)
		line = reports.OneLine(*r.res)
		if r.res.Status == probes.StatusUnknown || r.res.Status == probes.StatusSkipped {
			line = m.st.dim.Render(line)
		}
	}
	return truncate(mark+status+" "+id+"  "+line, m.width)
}

// details are the lines under a probe: its blockers with their fix
// always, and when expanded its other findings, evidence and facts.
func (m ScanModel) details(r scanRow) []string {
	if r.res == nil {
		return nil
	}
	const ind = "      "
	var out []string
	exp := m.expanded[r.id]
	for _, f := range r.res.Findings {
		blocks := f.Severity == probes.Block && !f.Ignored
		if !blocks && !exp {
			continue
		}
		mark, style := "! ", m.st.yellow
		switch {
		case blocks:
			mark, style = "✗ ", m.st.red
		case f.Severity == probes.Info:
			mark, style = "i ", m.st.dim
		}
		text := f.Code + " " + f.Summary
		if f.Ignored {
			text += " (blocker ignored by --ignore)"
		}
		out = append(out, wrap(text, m.width, ind[:4]+style.Render(mark), ind, style)...)
		if exp {
			if ev := f.Evidence.String(); ev != "" {
				out = append(out, wrap("evidence: "+ev, m.width, ind, ind+"  ", m.st.dim)...)
			}
		}
		if f.Fix != "" {
			out = append(out, wrap("fix: "+f.Fix, m.width, ind, ind+"  ", m.st.plain)...)
		}
	}
	if !exp {
		return out
	}
	if r.res.Error != "" {
		out = append(out, wrap("could not observe: "+r.res.Error, m.width, ind, ind+"  ", m.st.dim)...)
	}
	for _, e := range r.res.Evidence {
		out = append(out, wrap("evidence: "+e.String(), m.width, ind, ind+"  ", m.st.dim)...)
	}
	for _, k := range r.res.Facts.Keys() {
		out = append(out, wrap(k+" = "+probes.Format(r.res.Facts[k]), m.width, ind, ind+"  ", m.st.plain)...)
	}
	if len(out) == 0 {
		out = append(out, ind+m.st.dim.Render("nothing more to show"))
	}
	return out
}

// View draws the header, the probes and the footer, in exactly the
// terminal's height.
func (m ScanModel) View() string {
	if m.quitting {
		return ""
	}
	counts := map[probes.Status]int{}
	blockers := 0
	for _, r := range m.rows {
		if r.res != nil {
			counts[r.res.Status]++
			for _, f := range r.res.Findings {
				if f.Severity == probes.Block && !f.Ignored {
					blockers++
				}
			}
		}
	}
	end := m.at
	if m.done != nil {
		end = m.end
	}
	elapsed := fmt.Sprintf("%.1fs", end.Sub(m.start).Seconds())
	head := m.st.bold.Render("kprobe scan") + "  "
	if m.done == nil {
		head += fmt.Sprintf("%s %d/%d probes · %s", m.spin.View(), m.finished, len(m.rows), elapsed)
	} else {
		head += fmt.Sprintf("%d probes · %s · %s", len(m.rows), elapsed, identity(m.done.Identity))
	}
	if m.source != "" && m.source != "live" {
		head += " · replay of " + m.source
	}
	var tally []string
	for _, s := range []probes.Status{probes.StatusBlock, probes.StatusWarn, probes.StatusOK, probes.StatusUnknown, probes.StatusSkipped} {
		if counts[s] > 0 || s != probes.StatusSkipped {
			t := fmt.Sprintf("%s %d", s, counts[s])
			if counts[s] > 0 {
				t = m.st.of(s).Render(t)
			}
			tally = append(tally, t)
		}
	}
	sub := "  " + strings.Join(tally, " · ")
	if f := filters[m.filter]; f != "all" {
		sub += "   showing " + string(f) + " only"
	}

	saved := m.st.dim.Render(fmt.Sprintf("%d probes running", len(m.rows)-m.finished))
	if m.done != nil {
		switch {
		case blockers > 0:
			saved = m.st.red.Render(fmt.Sprintf("%d blockers", blockers))
		default:
			saved = m.st.green.Render("no blocker")
		}
		switch {
		case m.done.Err != nil:
			saved += " · " + m.st.red.Render("profile not written: "+m.done.Err.Error())
		case m.done.Profile != "":
			saved += " · profile written to " + m.done.Profile
		default:
			saved += " · no profile written (--write-profile PATH keeps one)"
		}
	}
	m.help.Width = m.width
	keys := m.help.ShortHelpView([]key.Binding{m.keys.up, m.keys.expand, m.keys.filter, m.keys.page, m.keys.quit})
	return strings.Join([]string{
		truncate(head, m.width),
		truncate(sub, m.width),
		m.vp.View(),
		strings.Join(m.verdictLines(), "\n"),
		truncate(saved, m.width),
		truncate(keys, m.width),
	}, "\n")
}

func identity(id profiles.Identity) string {
	s := id.Sandbox
	if id.VM != "" && id.VM != "none" && id.VM != "unknown" {
		s += " (" + id.VM + ")"
	}
	if id.Confidence != "" {
		s += ", " + id.Confidence + " confidence"
	}
	return s
}
