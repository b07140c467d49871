package reports

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/kprobe/kprobe/profiles"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// htmlTemplates holds the report and matrix pages and their shared CSS.
// Everything is inline: the file opens offline and fetches nothing.
var htmlTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"join":     strings.Join,
	"oneLine":  OneLine,
	"unmet":    joinUnmet,
	"seconds":  func(ms float64) string { return fmt.Sprintf("%.2f s", ms/1000) },
	"minScore": func() string { return fmt.Sprintf("%.2f", profiles.MinMatchScore) },
	"id":       func(s string) string { return strings.ReplaceAll(s, " ", "-") },
	"inc":      func(n int) int { return n + 1 },
}).ParseFS(templateFS, "templates/*.tmpl"))

// WriteHTML renders the report as one self-contained HTML page (inline
// CSS, no script, no external asset): the ladder verdict, a table of
// blockers with their fixes (id "blockers", one row per blocker with id
// "blocker-CODE"), the warnings, the closest known sandbox, the plan, the
// launch attempts and verification when there are any, and the facts
// grouped by domain.
func WriteHTML(w io.Writer, r *Report) error {
	return htmlTemplates.ExecuteTemplate(w, "report", newView(r))
}

// WriteJSON writes the report as indented JSON, the form Decode reads.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
