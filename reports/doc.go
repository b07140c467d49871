// Package reports shows what kprobe found: one versioned Report value and
// its renderers. Colour and terminal styling live here and nowhere else,
// and only when the caller says the output is a colour terminal.
package reports
