// Package tui is kprobe's terminal UI: a live view of a scan (probes as
// they finish, grouped by domain, blockers with their fixes) and of a
// launch (its phases, what it waits for, the ladder's decisions).
//
// The models only turn messages into state: no file, probe or engine is
// touched inside Update. The work runs in its own goroutine (RunScan,
// RunLaunch) and reaches the model as messages, so the command's side
// effects are the same with and without the TUI. Styles come from one
// lipgloss renderer per program, so a test renders without colour.
package tui
