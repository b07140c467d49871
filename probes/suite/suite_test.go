package suite_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/suite"
)

func TestMain(m *testing.M) { probetest.Main(m) }

var codeRe = regexp.MustCompile(`^KP-[A-Z]+-\d{3}$`)

// TestRegistry keeps the registry honest: stable, unique IDs, declared
// facts and codes, a fix for everything that warns or blocks.
func TestRegistry(t *testing.T) {
	all := suite.All()
	seen := map[string]bool{}
	codes := map[string]string{}
	prefixes := map[string]string{}
	for _, p := range all {
		id := p.ID()
		if !probes.ValidID(id) {
			t.Errorf("probe ID %q is not dotted kebab case", id)
		}
		if seen[id] {
			t.Errorf("duplicate probe ID %q", id)
		}
		seen[id] = true
		if p.Mode() != probes.Passive && p.Mode() != probes.Active {
			t.Errorf("%s: mode %q", id, p.Mode())
		}
		found := false
		for _, d := range probes.DomainOrder {
			found = found || d == p.Domain()
		}
		if !found {
			t.Errorf("%s: domain %q is not in DomainOrder", id, p.Domain())
		}
		if len(p.Facts()) == 0 {
			t.Errorf("%s declares no facts", id)
		}
		for _, f := range p.Facts() {
			if f.Doc == "" {
				t.Errorf("%s: fact %s has no doc", id, f.Key)
			}
			if _, err := probes.Coerce(f, zero(f.Type)); err != nil {
				t.Errorf("%s: fact %s has a bad type %q", id, f.Key, f.Type)
			}
			prefix, _, _ := strings.Cut(f.Key, ".")
			if other, ok := prefixes[prefix]; ok && other != p.Domain().String() {
				t.Errorf("fact prefix %q is used by domains %s and %s", prefix, other, p.Domain())
			}
			prefixes[prefix] = p.Domain().String()
		}
		for _, c := range p.Codes() {
			if !codeRe.MatchString(c.Code) {
				t.Errorf("%s: code %q is not KP-AREA-NNN", id, c.Code)
			}
			if other, dup := codes[c.Code]; dup {
				t.Errorf("code %s declared by %s and %s", c.Code, other, id)
			}
			codes[c.Code] = id
			if c.Title == "" || c.Meaning == "" {
				t.Errorf("%s: code %s needs a title and a meaning", id, c.Code)
			}
			if (c.Severity == probes.Warn || c.Severity == probes.Block) && c.Fix == "" {
				t.Errorf("%s: code %s (%s) has no fix", id, c.Code, c.Severity)
			}
		}
	}
	// Panics on a duplicate fact key.
	_ = probes.SchemaOf(all)
}

func zero(t probes.FactType) any {
	switch t {
	case probes.TypeTri:
		return probes.Unknown
	case probes.TypeInt:
		return int64(0)
	case probes.TypeList:
		return []string{}
	}
	return ""
}
