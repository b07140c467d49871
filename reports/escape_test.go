package reports_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/reports"
)

// hostile is what a hostile report JSON puts into its strings: terminal
// escapes (clear screen, window title, clipboard) and raw HTML.
const hostile = "\x1b[2J\x1b]0;owned\x07\x1b]52;c;ZWNobyBvd25lZA==\x07<img src=x onerror=alert(1)><script>x</script>\u009b31m"

// TestRenderersEscapeAHostileReport: Markdown and text used to pass raw
// HTML and terminal escape sequences from a report JSON through.
func TestRenderersEscapeAHostileReport(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "golden", "gvisor-run.json"))
	if err != nil {
		t.Fatal(err)
	}
	q := strings.Trim(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(
		strconvQuote(hostile), "<", `\u003c`), ">", `\u003e`), "&", `\u0026`), `"`)
	evil := bytes.ReplaceAll(data, []byte(`"summary": "`), []byte(`"summary": "`+q))
	evil = bytes.ReplaceAll(evil, []byte(`"id": "`), []byte(`"id": "`+q))
	evil = bytes.ReplaceAll(evil, []byte(`"code": "`), []byte(`"code": "`+q))
	if bytes.Equal(evil, data) {
		t.Fatal("the fixture changed shape: no field was made hostile")
	}
	r, err := reports.Decode(evil, probes.SchemaOf(suite.All()))
	if err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"text":       func(b *bytes.Buffer) error { return reports.WriteText(b, r, reports.TextOptions{Verbose: true}) },
		"text-color": func(b *bytes.Buffer) error { return reports.WriteText(b, r, reports.TextOptions{Color: true}) },
		"markdown":   func(b *bytes.Buffer) error { return reports.WriteMarkdown(b, r) },
		"html":       func(b *bytes.Buffer) error { return reports.WriteHTML(b, r) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		bads := []string{"\x1b[2J", "\x1b]", "\x07", "\u009b"} // a terminal shows text and Markdown
		if name == "markdown" || name == "html" {
			// Raw HTML is text inside a code span, and after a backslash.
			out = strings.ReplaceAll(withoutCodeSpans(out), `\<`, "")
			bads = []string{"<img", "<script>"}
		}
		for _, bad := range bads {
			if strings.Contains(out, bad) {
				i := strings.Index(out, bad)
				t.Errorf("%s output passes %q through: %q", name, bad, out[max(0, i-80):i+10])
			}
		}
	}
}

func strconvQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			b.WriteString(`\u00`)
			b.WriteString(strings.ToLower(string("0123456789ABCDEF"[r>>4]) + string("0123456789ABCDEF"[r&15])))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// withoutCodeSpans drops `code spans` (one line each) from Markdown.
func withoutCodeSpans(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		parts := strings.Split(line, "`")
		for i := 0; i < len(parts); i += 2 {
			b.WriteString(parts[i])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// FuzzDecode: any JSON a user passes to report --input decodes or is
// refused, and what decodes renders without a terminal escape in text and
// without raw HTML in Markdown.
func FuzzDecode(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "golden", "userns-root.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"apiVersion":"` + reports.APIVersion + `","kind":"` + reports.Kind + `","facts":{"a":[1,{"b":2}]},"results":[{"id":"\u001b]0;x\u0007"}]}`))
	f.Add([]byte(`{"apiVersion":null}`))
	schema := probes.SchemaOf(suite.All())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := reports.Decode(data, schema)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := reports.WriteText(&b, r, reports.TextOptions{Verbose: true}); err != nil {
			return
		}
		if strings.ContainsAny(b.String(), "\x1b\x07\x00") {
			t.Fatalf("text passes a control character through:\n%q", b.String())
		}
		b.Reset()
		if err := reports.WriteMarkdown(&b, r); err != nil {
			return
		}
		if strings.ContainsAny(b.String(), "\x1b\x07\x00") {
			t.Fatalf("Markdown passes a control character through:\n%q", b.String())
		}
	})
}
