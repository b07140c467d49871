package signatures

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzMatch: Match never panics, keeps at most MaxLine bytes of a line,
// stays fast, and agrees with itself on the normalised line.
func FuzzMatch(f *testing.F) {
	for _, p := range positives(f) {
		f.Add(string(p.component), p.line)
	}
	for _, n := range negatives(f) {
		f.Add(string(n.component), n.line)
	}
	f.Add("", `\\\\\"\"\`)
	f.Add("k3s", strings.Repeat(`\"`, 1000))
	f.Fuzz(func(t *testing.T, component, line string) {
		start := time.Now()
		h := Match(component, line)
		// The needle prefilter never changes the answer.
		p, n := prepare(line), Normalize(line)
		for i := range Table() {
			s := &Table()[i]
			slow := s.Regexp.MatchString(n) && (s.Unless == nil || !s.Unless.MatchString(n))
			if s.matches(Any, p) != slow {
				t.Fatalf("%s: the needles %q disagree with the regexp on %q", s.Code, s.needles, line)
			}
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("Match took %v on %d bytes", el, len(line))
		}
		if h == nil {
			return
		}
		if len(h.Line) > MaxLine || !strings.HasPrefix(line, h.Line) {
			t.Fatalf("the hit's line is not the line's head: %q", h.Line)
		}
		if h.Log != Component(component) {
			t.Fatalf("the hit's log %q is not %q", h.Log, component)
		}
		// Whatever fired in one log fires when the log is unknown.
		if u := Match("", line); u == nil {
			t.Fatalf("%s fired in the %q log but not in an unknown one", h.Signature.Code, component)
		}
	})
}

// FuzzScan: the line splitter and the klog joiner take any bytes, never
// report a code twice, and keep lines within MaxLine.
func FuzzScan(f *testing.F) {
	f.Add([]byte(kmsgLine + "\n" + swapLine + "\n" + kmsgLine))
	f.Add([]byte("a err=<\n\topen /dev/kmsg: no such file or directory\n >\n"))
	f.Add([]byte("x=<\n\t\n\t\n >\r\n=<"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hits, err := Scan(bytes.NewReader(data), Any)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, h := range hits {
			if seen[h.Signature.Code] {
				t.Fatalf("%s reported twice", h.Signature.Code)
			}
			seen[h.Signature.Code] = true
			if len(h.Line) > MaxLine {
				t.Fatalf("a %d-byte line", len(h.Line))
			}
		}
	})
}
