package tui

import (
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
	"golang.org/x/term"

	"github.com/kprobe/kprobe/probes"
)

// styles are the few looks the views use. Only the 16 basic colours, so
// that no terminal is asked for its background (lipgloss does that for
// adaptive colours, and the answer would race bubbletea's input reader).
type styles struct {
	plain, bold, dim, red, green, yellow, selected lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	s := r.NewStyle()
	return styles{
		plain:    s,
		bold:     s.Bold(true),
		dim:      s.Faint(true),
		red:      s.Foreground(lipgloss.Color("1")),
		green:    s.Foreground(lipgloss.Color("2")),
		yellow:   s.Foreground(lipgloss.Color("3")),
		selected: s.Bold(true).Reverse(true),
	}
}

// status renders a probe status, padded to the column.
func (st styles) status(s probes.Status) string {
	return st.of(s).Render(padRight(string(s), 7))
}

// of is the look of a status.
func (st styles) of(s probes.Status) lipgloss.Style {
	switch s {
	case probes.StatusOK:
		return st.green
	case probes.StatusWarn:
		return st.yellow
	case probes.StatusBlock:
		return st.red.Bold(true)
	}
	return st.dim
}

func (st styles) help() help.Model {
	h := help.New()
	h.Styles.ShortKey = st.bold
	h.Styles.ShortDesc = st.dim
	h.Styles.ShortSeparator = st.dim
	h.Styles.Ellipsis = st.dim
	h.Styles.FullKey = st.bold
	h.Styles.FullDesc = st.dim
	h.Styles.FullSeparator = st.dim
	return h
}

// NewRenderer is the renderer a program on out uses: colour as the
// terminal supports it, none with NO_COLOR (termenv honours it) or when
// noColor is set.
func NewRenderer(out io.Writer, noColor bool) *lipgloss.Renderer {
	r := lipgloss.NewRenderer(out)
	if noColor {
		r.SetColorProfile(termenv.Ascii)
	}
	return r
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Wanted decides whether a command shows its TUI: --tui (force) always;
// never with --no-tui, an explicit --output or TERM=dumb, or when one of
// the terminals (the streams the command writes) is not one. NO_COLOR
// removes the colour only (no-color.org), not the view.
func Wanted(force, never, outputSet bool, terminals ...any) bool {
	if force {
		return true
	}
	if never || outputSet || os.Getenv("TERM") == "dumb" {
		return false
	}
	for _, t := range terminals {
		if !IsTerminal(t) {
			return false
		}
	}
	return len(terminals) > 0
}

func padRight(s string, n int) string {
	if w := ansi.StringWidth(s); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}

// truncate cuts s (which may hold ANSI styles) to width cells.
func truncate(s string, width int) string {
	if width <= 0 {
		return ""
	}
	return ansi.Truncate(s, width, "…")
}

// wrap breaks plain text into lines of at most width cells, each
// prefixed by indent (the first by first), and styles every line.
func wrap(text string, width int, first, indent string, style lipgloss.Style) []string {
	avail := width - max(ansi.StringWidth(first), ansi.StringWidth(indent))
	if avail < 10 {
		avail = 10
	}
	var out []string
	for i, line := range strings.Split(ansi.Wrap(text, avail, ""), "\n") {
		pre := indent
		if i == 0 {
			pre = first
		}
		out = append(out, pre+style.Render(strings.TrimRight(line, " ")))
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
