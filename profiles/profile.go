package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/bounded"
)

// APIVersion and Kind head every profile file.
const (
	APIVersion = "kprobe.dev/v1alpha1"
	Kind       = "SandboxProfile"
)

// Identity is what the sandbox is, as the identity probe decided it.
type Identity struct {
	Sandbox    string   `toml:"sandbox" json:"sandbox"`
	VM         string   `toml:"vm,omitempty" json:"vm,omitempty"`
	IDE        string   `toml:"ide,omitempty" json:"ide,omitempty"`
	Confidence string   `toml:"confidence,omitempty" json:"confidence,omitempty"`
	Markers    []string `toml:"markers,omitempty" json:"markers,omitempty"`
}

// Capabilities are derived yes/no/unknown answers that plans key on.
type Capabilities struct {
	ContainersStart  probes.Tri `toml:"containers_start" json:"containers_start"`
	CgroupsWritable  probes.Tri `toml:"cgroups_writable" json:"cgroups_writable"`
	OverlayMountable probes.Tri `toml:"overlay_mountable" json:"overlay_mountable"`
	KmsgReadable     probes.Tri `toml:"kmsg_readable" json:"kmsg_readable"`
	IptablesUsable   probes.Tri `toml:"iptables_usable" json:"iptables_usable"`
	UserNamespaces   probes.Tri `toml:"user_namespaces" json:"user_namespaces"`
	InUserNamespace  probes.Tri `toml:"in_user_namespace" json:"in_user_namespace"`
	KubeletStats     probes.Tri `toml:"kubelet_stats" json:"kubelet_stats"`
}

// Profile is the persisted record of a sandbox.
type Profile struct {
	APIVersion    string           `toml:"apiVersion" json:"apiVersion"`
	Kind          string           `toml:"kind" json:"kind"`
	Name          string           `toml:"name,omitempty" json:"name,omitempty"`
	Description   string           `toml:"description,omitempty" json:"description,omitempty"`
	KprobeVersion string           `toml:"kprobeVersion,omitempty" json:"kprobeVersion,omitempty"`
	Generated     time.Time        `toml:"generated" json:"generated"`
	Identity      Identity         `toml:"identity" json:"identity"`
	Capabilities  Capabilities     `toml:"capabilities" json:"capabilities"`
	Verdict       Verdict          `toml:"verdict" json:"verdict"`
	Facts         probes.Facts     `toml:"facts" json:"facts"`
	Findings      []probes.Finding `toml:"findings,omitempty" json:"findings,omitempty"`
}

// FromScan builds the profile of a scan.
func FromScan(s *probes.Scan, version string, now time.Time) *Profile {
	f := s.Facts
	p := &Profile{
		APIVersion:    APIVersion,
		Kind:          Kind,
		KprobeVersion: version,
		Generated:     now.UTC().Truncate(time.Second),
		Identity: Identity{
			Sandbox:    f.String("identity.sandbox"),
			VM:         f.String("identity.vm"),
			IDE:        f.String("identity.ide"),
			Confidence: f.String("identity.confidence"),
			Markers:    f.List("identity.markers"),
		},
		Capabilities: Derive(f),
		Verdict:      Judge(f),
		Facts:        f,
	}
	if p.Identity.Sandbox == "" {
		p.Identity.Sandbox = "unknown"
	}
	for _, r := range s.Results {
		p.Findings = append(p.Findings, r.Findings...)
	}
	sort.SliceStable(p.Findings, func(i, j int) bool { return p.Findings[i].Code < p.Findings[j].Code })
	return p
}

// Derive computes the capabilities from facts.
func Derive(f probes.Facts) Capabilities {
	c := Capabilities{
		CgroupsWritable:  f.Tri("cgroups.writable"),
		OverlayMountable: f.Tri("overlay.mount_datadir"),
		KmsgReadable:     f.Tri("dev.kmsg_readable"),
		UserNamespaces:   f.Tri("ns.user"),
		InUserNamespace:  f.Tri("priv.userns"),
		KubeletStats:     f.Tri("fs.datadir.kubelet_stats"),
	}
	switch f.String("container.best") {
	case "":
	case "none":
		c.ContainersStart = probes.No
	default:
		c.ContainersStart = probes.Yes
	}
	switch f.String("net.iptables_backend") {
	case "":
	case "none":
		c.IptablesUsable = probes.No
	default:
		c.IptablesUsable = probes.Yes
	}
	return c
}

// ValidationError lists every problem found in a profile.
type ValidationError struct {
	Path     string
	Problems []string
}

func (e *ValidationError) Error() string {
	where := "profile"
	if e.Path != "" {
		where = e.Path
	}
	return fmt.Sprintf("%s is not a valid kprobe profile:\n  - %s", where, strings.Join(e.Problems, "\n  - "))
}

// Decode parses a profile strictly: unknown keys, wrong types and unknown
// fact keys are errors naming their key path. schema is the fact schema
// (probes.SchemaOf(suite.All())).
func Decode(data []byte, schema probes.Schema) (*Profile, error) {
	// Facts are decoded separately so their types come from the schema.
	type raw struct {
		Profile
		Facts map[string]any `toml:"facts"`
	}
	var r raw
	md, err := toml.Decode(string(data), &r)
	if err != nil {
		return nil, &ValidationError{Problems: []string{tomlErr(err)}}
	}
	var problems []string
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] == "facts" {
			continue
		}
		problems = append(problems, fmt.Sprintf("%s: unknown key", k.String()))
	}
	p := r.Profile
	facts, errs := schema.Decode(r.Facts)
	for _, e := range errs {
		problems = append(problems, e.Error())
	}
	p.Facts = facts
	problems = append(problems, p.validate()...)
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return &p, nil
}

func tomlErr(err error) string {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("TOML syntax error at line %d: %s", pe.Position.Line, pe.Message)
	}
	return err.Error()
}

// validate checks the values the TOML decoder cannot.
func (p *Profile) validate() []string {
	var out []string
	if p.APIVersion != APIVersion {
		out = append(out, fmt.Sprintf("apiVersion: %q is not supported (want %q)", p.APIVersion, APIVersion))
	}
	if p.Kind != Kind {
		out = append(out, fmt.Sprintf("kind: %q is not %q", p.Kind, Kind))
	}
	if p.Verdict.Rung != "" && !ValidRung(p.Verdict.Rung) {
		out = append(out, fmt.Sprintf("verdict.rung: %q is not one of T0..T4", p.Verdict.Rung))
	}
	for i, c := range p.Verdict.Checks {
		if !ValidRung(c.Rung) {
			out = append(out, fmt.Sprintf("verdict.checks[%d].rung: %q is not one of T0..T4", i, c.Rung))
		}
	}
	for i, f := range p.Findings {
		switch f.Severity {
		case probes.Info, probes.Warn, probes.Block:
		default:
			out = append(out, fmt.Sprintf("findings[%d].severity: %q is not info, warn or block", i, f.Severity))
		}
		if f.Code == "" {
			out = append(out, fmt.Sprintf("findings[%d].code: missing", i))
		}
	}
	return out
}

// Encode renders a profile as TOML.
func Encode(p *Profile) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# kprobe sandbox profile: `kprobe profile show` explains it, `kprobe scan --write-profile` rewrites it.\n")
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Load reads and validates a profile file: at most bounded.Profile bytes
// of a regular file (a profile is untrusted input).
func Load(path string, schema probes.Schema) (*Profile, error) {
	data, err := bounded.ReadFile(path, bounded.Profile)
	if err != nil {
		return nil, err
	}
	p, err := Decode(data, schema)
	var ve *ValidationError
	if errors.As(err, &ve) {
		ve.Path = path
	}
	return p, err
}

// Plannable refuses a profile that lacks facts the ladder reads
// (MissingFacts): judged without them, every rung would look possible and
// the plan would be T0. A partial scan's profile (--only) is valid, but
// not plannable.
func Plannable(p *Profile) error {
	missing := MissingFacts(p.Facts)
	if len(missing) == 0 {
		return nil
	}
	return &ValidationError{Problems: []string{fmt.Sprintf("facts: missing %s (a plan needs every fact the fallback ladder checks)", strings.Join(missing, ", "))}}
}

// Save writes a profile atomically. The encoded bytes are decoded and
// validated before anything touches path, so a good profile is never
// replaced by a broken one; the previous file is kept as path+".bak".
func Save(path string, p *Profile, schema probes.Schema) error {
	data, err := Encode(p)
	if err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	if _, err := Decode(data, schema); err != nil {
		return fmt.Errorf("refusing to write an invalid profile: %w", err)
	}
	return WriteAtomic(path, data, true)
}

// WriteAtomic writes data to path through a temp file in the same
// directory, fsyncs it and renames it into place. With keepPrevious, an
// existing file is first copied to path+".bak".
func WriteAtomic(path string, data []byte, keepPrevious bool) error {
	dir := filepath.Dir(path)
	if keepPrevious {
		if old, err := os.ReadFile(path); err == nil {
			if err := writeTemp(dir, path+".bak", old); err != nil {
				return err
			}
		}
	}
	return writeTemp(dir, path, data)
}

func writeTemp(dir, path string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
