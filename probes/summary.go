package probes

import (
	"fmt"
	"strings"
)

// Tally groups names by outcome for an Observation.Summary: after
// Add("veth", "ok"), Add("bridge", "ok"), Add("vxlan", "EOPNOTSUPP") its
// String is "veth bridge ok, vxlan EOPNOTSUPP". Outcomes keep the order in
// which they first came.
type Tally struct {
	order []string
	names map[string][]string
}

// Add records that name had outcome.
func (t *Tally) Add(name, outcome string) {
	if t.names == nil {
		t.names = map[string][]string{}
	}
	if _, ok := t.names[outcome]; !ok {
		t.order = append(t.order, outcome)
	}
	t.names[outcome] = append(t.names[outcome], name)
}

// Outcomes returns how many distinct outcomes were added.
func (t *Tally) Outcomes() int { return len(t.order) }

// String renders the groups, "" when nothing was added.
func (t *Tally) String() string {
	parts := make([]string, 0, len(t.order))
	for _, o := range t.order {
		parts = append(parts, strings.Join(t.names[o], " ")+" "+o)
	}
	return strings.Join(parts, ", ")
}

// Fit joins items with sep, as many as fit in max bytes with room left
// for the " (+N more)" that then ends the list ("(+3 more)" when not even
// the first fits).
func Fit(items []string, sep string, max int) string {
	s := ""
	for i, it := range items {
		next := it
		if i > 0 {
			next = s + sep + it
		}
		more := ""
		if left := len(items) - i - 1; left > 0 {
			more = fmt.Sprintf(" (+%d more)", left)
		}
		if len(next)+len(more) > max {
			return strings.TrimSpace(s + fmt.Sprintf(" (+%d more)", len(items)-i))
		}
		s = next
	}
	return s
}
