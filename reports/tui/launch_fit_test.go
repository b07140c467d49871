package tui_test

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// TestLaunchViewFits80x24: the recorded two-attempt launch, played in an
// 80x24 terminal, never draws a line wider than 80 cells or a view taller
// than 24 lines, at any message.
func TestLaunchViewFits80x24(t *testing.T) {
	const w, h = 80, 24
	rec := loadRecording(t)
	msgs := ladderRun(t, rec)
	c := newClock(0)
	start := c.t
	var m tea.Model = launchModel(c, rec)
	m, _ = m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	worst := 0
	for i := range msgs {
		m, _ = play(t, c, start, m, msgs[i:i+1], nil)
		lines := strings.Split(strings.TrimRight(m.View(), "\n"), "\n")
		worst = max(worst, len(lines))
		for n, l := range lines {
			if cw := ansi.StringWidth(l); cw > w {
				t.Fatalf("after message %d (%T) line %d is %d cells wide: %q", i, msgs[i].msg, n+1, cw, l)
			}
		}
	}
	if worst > h {
		t.Errorf("the view grew to %d lines, the terminal has %d", worst, h)
	}
}
