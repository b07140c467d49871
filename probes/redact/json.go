package redact

import (
	"bytes"
	"encoding/json"
	"sort"
)

// JSON redacts every string value of a JSON document, at any depth, and
// returns the document re-encoded. Object keys are kept: they are schema
// names (fact keys, field names), and rewriting them would break decoding.
// Numbers keep their exact text.
func (r *Redactor) JSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(r.value(v))
}

func (r *Redactor) value(v any) any {
	switch x := v.(type) {
	case string:
		return r.String(x)
	case []any:
		for i := range x {
			x[i] = r.value(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = r.value(x[k])
		}
	}
	return v
}

var homeUserRe = lazy(`/(?:home|Users)/([A-Za-z0-9._-]+)`)

// HomeUsers returns the user names that home directory paths in s give
// away (/home/alice/project names alice), so that a Redactor also removes
// them where they stand alone ("owner alice").
func HomeUsers(s string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range homeUserRe.FindAllStringSubmatch(s, -1) {
		if u := m[1]; !seen[u] && !genericUsers[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}
