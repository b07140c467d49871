package probes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Mode says whether a probe only reads (Passive) or tries things (Active).
type Mode string

const (
	Passive Mode = "passive"
	Active  Mode = "active"
)

// Domain groups probes in the output.
type Domain string

const (
	DomainIdentity   Domain = "identity"
	DomainKernel     Domain = "kernel"
	DomainFS         Domain = "filesystems"
	DomainCgroups    Domain = "cgroups"
	DomainDevices    Domain = "devices"
	DomainNamespaces Domain = "namespaces"
	DomainPrivileges Domain = "privileges"
	DomainSysctls    Domain = "sysctls"
	DomainNetwork    Domain = "network"
	DomainResources  Domain = "resources"
	DomainTools      Domain = "tools"
	DomainContainer  Domain = "container"
)

func (d Domain) String() string { return string(d) }

// DomainOrder is the order domains are printed in.
var DomainOrder = []Domain{
	DomainIdentity, DomainKernel, DomainPrivileges, DomainFS, DomainCgroups,
	DomainDevices, DomainNamespaces, DomainSysctls, DomainNetwork,
	DomainResources, DomainTools, DomainContainer,
}

// Probe measures one property of the sandbox.
//
// Run returns what it observed. A returned error means the probe could not
// observe at all; the runner records the result as unknown. Partial
// blindness is expressed with Unknown facts, never with No.
//
// Active probes are run by the runner in a re-exec'd child (see Child); Run
// is then executed inside that child, so it may mount and unshare freely as
// long as it cleans up what it creates outside the child's private mount
// namespace.
type Probe interface {
	ID() string
	Domain() Domain
	Mode() Mode
	// Facts declares every fact key Run may set.
	Facts() []FactSpec
	// Codes declares every finding code Run may emit.
	Codes() []Code
	Run(ctx context.Context, env *Env) (*Observation, error)
}

// ChildSharer is a light active probe that may share its child with the
// other light ones of a scan (one process start instead of one each): it
// mounts nothing in the child's namespace, changes no process-wide state
// of the child (working dir, credentials, namespaces, environment) and
// names what it creates after the child's PID with a prefix of its own.
type ChildSharer interface {
	SharesChild()
}

// ChildLeader is a ChildSharer whose trials are the longest chain of
// processes in a shared child (an op that then runs further programs one
// after another). The shared child starts it first and the other members
// once its first op has started (or it returned): a process start holds
// Go's syscall.ForkLock until the new process has exec'd, 20-50 ms each
// in gVisor, so the chain would otherwise begin behind every other
// member's op.
type ChildLeader interface {
	ChildSharer
	LeadsChild()
}

// Sweeper is an active probe whose child names what it creates outside
// its temp dir (cgroups, scratch dirs) after the child's own PID. Once the
// child is gone, killed at its time limit or not, the runner calls Sweep
// with that PID: it removes only what carries that PID in its name, kills
// what still runs in it, and returns what it removed and what it could not.
type Sweeper interface {
	Sweep(childPID int, env *Env) (removed []string, err error)
}

// Severity of a finding.
type Severity string

const (
	Info  Severity = "info"
	Warn  Severity = "warn"
	Block Severity = "block"
)

func (s Severity) rank() int {
	switch s {
	case Block:
		return 2
	case Warn:
		return 1
	}
	return 0
}

// Code documents a stable finding code: what it means and how to fix it.
type Code struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Fix      string   `json:"fix,omitempty"`
	// Meaning says what the finding means for Kubernetes in one or two
	// sentences; docs/findings.md is generated from it.
	Meaning string `json:"meaning,omitempty"`
}

// Evidence is what a fact or finding rests on.
type Evidence struct {
	Source  string `json:"source,omitempty" toml:"source,omitempty"`   // a path, a syscall, a command
	Excerpt string `json:"excerpt,omitempty" toml:"excerpt,omitempty"` // what it said
	Errno   string `json:"errno,omitempty" toml:"errno,omitempty"`     // ENOENT, EPERM, ...
}

func (e Evidence) String() string {
	s := e.Source
	if e.Errno != "" {
		s += ": " + e.Errno
	}
	if e.Excerpt != "" {
		if s != "" {
			s += ": "
		}
		s += e.Excerpt
	}
	return s
}

// Finding is a judgement with a stable code, evidence and a paste-ready fix.
type Finding struct {
	Code     string   `json:"code" toml:"code"`
	Severity Severity `json:"severity" toml:"severity"`
	Summary  string   `json:"summary" toml:"summary"`
	Evidence Evidence `json:"evidence" toml:"evidence"`
	Fix      string   `json:"fix,omitempty" toml:"fix,omitempty"`
	// Ignored is set when --ignore downgraded a blocker to a warning, or
	// when Own is set.
	Ignored bool `json:"ignored,omitempty" toml:"ignored,omitempty"`
	// Own is set when what the finding is about belongs to a running
	// kprobe cluster (Env.Own): kprobe's own, never a blocker.
	Own bool `json:"own,omitempty" toml:"own,omitempty"`
}

// Observation is what a probe returns.
type Observation struct {
	// Summary is the one line shown next to the probe's ID: what it
	// found, in a few words ("rshared / and rbind ok, also in a user
	// namespace"). Keep it short (about 110 characters) and free of host
	// names.
	Summary  string     `json:"summary,omitempty"`
	Facts    Facts      `json:"facts"`
	Findings []Finding  `json:"findings,omitempty"`
	Evidence []Evidence `json:"evidence,omitempty"`
}

// NewObservation returns an empty observation.
func NewObservation() *Observation { return &Observation{Facts: Facts{}} }

// Set records a fact. The value must be a Tri, string, int64, int or []string.
func (o *Observation) Set(key string, v any) {
	if i, ok := v.(int); ok {
		v = int64(i)
	}
	o.Facts[key] = v
}

// Note adds a line of evidence to the observation.
func (o *Observation) Note(source, excerpt string, err error) {
	o.Evidence = append(o.Evidence, Evidence{Source: source, Excerpt: excerpt, Errno: Errno(err)})
}

// Find records a finding for code c with evidence.
func (o *Observation) Find(c Code, summary string, ev Evidence) {
	o.Findings = append(o.Findings, Finding{
		Code: c.Code, Severity: c.Severity, Summary: summary, Evidence: ev, Fix: c.Fix,
	})
}

// FindFix records a finding whose fix is specific to this observation.
func (o *Observation) FindFix(c Code, summary string, ev Evidence, fix string) {
	o.Find(c, summary, ev)
	o.Findings[len(o.Findings)-1].Fix = fix
}

// Errno names the errno inside err ("ENOENT"), or returns the error text when
// there is none, or "" for a nil error.
func Errno(err error) string {
	if err == nil {
		return ""
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		if name := errnoName(en); name != "" {
			return name
		}
		return fmt.Sprintf("errno %d", int(en))
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "ENOENT"
	case errors.Is(err, fs.ErrPermission):
		return "EACCES"
	}
	return err.Error()
}
