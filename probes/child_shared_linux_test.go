//go:build linux

package probes

import (
	"bytes"
	"testing"
)

// TestLineWriterDropsAnEndlessLine: a shared child that writes without a
// newline costs at most one bounded line of memory, and the replies
// after it still arrive.
func TestLineWriterDropsAnEndlessLine(t *testing.T) {
	var lines [][]byte
	w := &lineWriter{fn: func(l []byte) { lines = append(lines, append([]byte(nil), l...)) }}
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	most := 0
	for written := 0; written < 3*maxReplyLine; written += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		most = max(most, len(w.buf))
	}
	if most > maxReplyLine+len(chunk) {
		t.Fatalf("the buffer grew to %d bytes, want at most %d", most, maxReplyLine+len(chunk))
	}
	if _, err := w.Write([]byte("tail of the endless line\n{\"id\":\"a\"}\n")); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || string(lines[1]) != `{"id":"a"}` {
		t.Fatalf("lines after the endless one: %q", lines)
	}
}
