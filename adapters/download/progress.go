package download

import (
	"fmt"
	"io"
)

// Progress reports bytes downloaded. On a terminal (TTY) it redraws one
// line in place; elsewhere it prints a line at every 10% of a known size
// (every 16 MiB of an unknown one), and one at the end.
type Progress struct {
	out   io.Writer
	label string
	tty   bool
	total int64
	n     int64
	next  int64
}

// NewProgress reports on out (nil: nowhere) under label.
func NewProgress(out io.Writer, label string, tty bool) *Progress {
	if out == nil {
		out = io.Discard
	}
	return &Progress{out: out, label: label, tty: tty}
}

const unknownStep = 16 << 20

func (p *Progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if p.next == 0 {
		p.next = p.n - int64(len(b)) + p.step()
	}
	for p.n >= p.next && (p.total <= 0 || p.n < p.total) {
		p.line()
		p.next += p.step()
	}
	return len(b), nil
}

func (p *Progress) step() int64 {
	if p.tty {
		return 1 << 20
	}
	if p.total > 0 {
		return max(p.total/10, 1)
	}
	return unknownStep
}

func (p *Progress) line() {
	end := "\n"
	if p.tty {
		end = "\x1b[K\r"
	}
	if p.total > 0 {
		fmt.Fprintf(p.out, "%s: %s of %s (%d%%)%s", p.label, mib(p.n), mib(p.total), p.n*100/p.total, end)
	} else {
		fmt.Fprintf(p.out, "%s: %s%s", p.label, mib(p.n), end)
	}
}

// Done prints the final line: n bytes came over the network.
func (p *Progress) Done(n int64) {
	clear := ""
	if p.tty {
		clear = "\x1b[K"
	}
	fmt.Fprintf(p.out, "%s: downloaded %d bytes (%s)%s\n", p.label, n, mib(n), clear)
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
