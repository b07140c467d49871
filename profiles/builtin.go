package profiles

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/suite"
)

// BuiltinPrefix names a built-in profile where a path is expected:
// "builtin:gvisor-9p".
const BuiltinPrefix = "builtin:"

//go:embed builtin/*.toml
var builtinFS embed.FS

// UnknownBuiltinError is returned for a built-in name that does not exist.
type UnknownBuiltinError struct {
	Name  string
	Known []string
}

func (e *UnknownBuiltinError) Error() string {
	return fmt.Sprintf("no built-in profile %q; known: %s", e.Name, strings.Join(e.Known, ", "))
}

// LoadBuiltins decodes every embedded profile strictly against schema,
// sorted by name. Each file's name must be its profile's name. The
// verdict is judged again from the facts, so it carries every rung's
// checks (the files state only the rung and its title; a test keeps them
// equal to Judge's).
func LoadBuiltins(schema probes.Schema) ([]*Profile, error) {
	names, err := fs.Glob(builtinFS, "builtin/*.toml")
	if err != nil {
		return nil, err
	}
	var out []*Profile
	var problems []string
	for _, file := range names {
		data, err := builtinFS.ReadFile(file)
		if err != nil {
			return nil, err
		}
		p, err := Decode(data, schema)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", file, err))
			continue
		}
		if want := strings.TrimSuffix(path.Base(file), ".toml"); p.Name != want {
			problems = append(problems, fmt.Sprintf("%s: name %q is not the file's name %q", file, p.Name, want))
			continue
		}
		p.Verdict = Judge(p.Facts)
		out = append(out, p)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("built-in profiles are broken:\n%s", strings.Join(problems, "\n"))
	}
	slices.SortFunc(out, func(a, b *Profile) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

var builtins = sync.OnceValues(func() ([]*Profile, error) {
	return LoadBuiltins(probes.SchemaOf(suite.All()))
})

// Builtins returns the built-in profiles of known sandboxes, sorted by
// name. Each call returns fresh copies the caller may change.
func Builtins() ([]*Profile, error) {
	ps, err := builtins()
	if err != nil {
		return nil, err
	}
	out := make([]*Profile, len(ps))
	for i, p := range ps {
		out[i] = p.Clone()
	}
	return out, nil
}

// BuiltinNames lists the names of the built-in profiles.
func BuiltinNames() []string {
	ps, _ := builtins()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

// Builtin returns a copy of the built-in profile name ("gvisor-9p"; a
// "builtin:" prefix is accepted). An unknown name is an
// *UnknownBuiltinError listing the known ones.
func Builtin(name string) (*Profile, error) {
	name = strings.TrimPrefix(name, BuiltinPrefix)
	ps, err := builtins()
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p.Clone(), nil
		}
	}
	return nil, &UnknownBuiltinError{Name: name, Known: BuiltinNames()}
}

// Clone returns a deep copy of p.
func (p *Profile) Clone() *Profile {
	if p == nil {
		return nil
	}
	c := *p
	c.Identity.Markers = slices.Clone(p.Identity.Markers)
	c.Facts = cloneFacts(p.Facts)
	c.Findings = slices.Clone(p.Findings)
	c.Verdict.Checks = make([]RungCheck, len(p.Verdict.Checks))
	for i, rc := range p.Verdict.Checks {
		rc.Blockers = slices.Clone(rc.Blockers)
		rc.Unverified = slices.Clone(rc.Unverified)
		c.Verdict.Checks[i] = rc
	}
	if p.Verdict.Checks == nil {
		c.Verdict.Checks = nil
	}
	return &c
}

func cloneFacts(f probes.Facts) probes.Facts {
	if f == nil {
		return nil
	}
	out := make(probes.Facts, len(f))
	for k, v := range f {
		if l, ok := v.([]string); ok {
			v = slices.Clone(l)
		}
		out[k] = v
	}
	return out
}

// BuiltinTOML returns a built-in profile's file as shipped, comments
// included.
func BuiltinTOML(name string) ([]byte, error) {
	name = strings.TrimPrefix(name, BuiltinPrefix)
	data, err := builtinFS.ReadFile("builtin/" + name + ".toml")
	if err != nil || strings.ContainsAny(name, "/\\") {
		return nil, &UnknownBuiltinError{Name: name, Known: BuiltinNames()}
	}
	return data, nil
}
