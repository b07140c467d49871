package signatures

import (
	"regexp"
	"strings"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

// Component names the program whose log a line comes from. The upstream
// engine writes one log per process (<data-dir>/logs/<name>.log); k3s
// writes the kubelet, kube-proxy, apiserver, flannel and etcd lines into
// its own log. Any other name is accepted and then matches only the
// signatures of that name and those of Any.
type Component string

const (
	Kubelet    Component = "kubelet"
	Containerd Component = "containerd"
	APIServer  Component = "kube-apiserver"
	KubeProxy  Component = "kube-proxy"
	K3s        Component = "k3s"
	// Runc stands for the OCI runtime (runc, crun, runsc) and containerd's
	// shim; their errors reach containerd's and the kubelet's logs.
	Runc    Component = "runc"
	Flannel Component = "flannel"
	Etcd    Component = "etcd"
	// Any, as a signature's component, matches in every log; as a log's
	// component (or ""), it accepts every signature.
	Any Component = "any"
)

// appearsIn reports whether lines of component sig can appear in the log
// of component log.
func appearsIn(sig, log Component) bool {
	switch {
	case sig == log, sig == Any, log == Any, log == "":
		return true
	case log == K3s:
		// k3s runs the kubelet, kube-proxy, apiserver, flannel and etcd in
		// its own process; containerd and runc errors reach it through the
		// kubelet's CRI calls.
		return true
	case log == Kubelet:
		return sig == Containerd || sig == Runc
	case log == Containerd:
		return sig == Runc
	}
	return false
}

// Kind is what the launcher does about a signature.
type Kind string

const (
	// Remedy: add Action.Settings and Action.Shims to the plan and retry at
	// the same rung. If they are in the plan already, step down as for
	// StepDown.
	Remedy Kind = "remedy"
	// StepDown: retry one rung lower, or at Action.AtMost if that is lower.
	StepDown Kind = "step-down"
	// Fatal: kprobe can do nothing here; Action.Needs says what must change.
	Fatal Kind = "fatal"
	// Advisory: tell the user, keep the attempt running.
	Advisory Kind = "advisory"
)

// Stops reports whether a signature of this kind ends the attempt.
func (k Kind) Stops() bool { return k != Advisory }

// Action is what the launcher does when a signature fires.
type Action struct {
	Kind Kind
	// Settings and Shims are the Remedy. Their Reason is the signature's
	// code; shim names are those of adapters (adapters.ShimNames), which
	// adapters/shims implements.
	Settings []adapters.Setting
	Shims    []adapters.Shim
	// AtMost is the highest rung that can avoid the failure, for StepDown
	// and for a Remedy that did not help: kube-proxy and flannel failures
	// say T2, failures of any worker say T3. Empty means one rung down.
	AtMost profiles.Rung
	// Needs is the environment change that would fix a Fatal signature (and
	// the rungs a step down gives up).
	Needs string
}

// Signature is one known failure.
type Signature struct {
	// Code is stable: tests, docs and attempt records refer to it.
	Code string
	// Component is the program whose log the line comes from.
	Component Component
	// Also lists other programs that log the same failure (flannel runs
	// the same iptables as kube-proxy).
	Also []Component
	// Regexp matches the failure's log text (case-insensitive, after quote
	// unescaping; see Normalize).
	Regexp *regexp.Regexp
	// Unless, when set, vetoes a match: the same text logged where it is
	// harmless (the kubelet's own iptables canaries, the userns "ignoring"
	// variants).
	Unless *regexp.Regexp
	// Diagnosis says what happened, in plain words.
	Diagnosis string
	// Fix is paste-ready: the flags or commands that avoid the failure.
	Fix string
	// Source is where the signature was taken from.
	Source string
	Action Action
	// Shadows lists codes that also match some of this signature's lines;
	// this one is listed before them in Table and wins.
	Shadows []string

	// needles are lower-case ASCII literals one of which every match
	// contains (see needles in table.go); nil if the pattern has none.
	needles []string
}

// prepared is a normalised line and what the needle check needs.
type prepared struct {
	text  string
	lower string // ASCII lower case of text; "" when text is not ASCII
}

func prepare(line string) prepared {
	p := prepared{text: Normalize(line)}
	for i := 0; i < len(p.text); i++ {
		if p.text[i] >= 0x80 {
			// (?i) folds some non-ASCII runes onto ASCII letters (ſ, K):
			// only the regexp can tell.
			return p
		}
	}
	p.lower = strings.ToLower(p.text)
	return p
}

// matches reports whether the signature fires on line from the log of
// component log.
func (s *Signature) matches(log Component, line prepared) bool {
	if !s.appearsIn(log) {
		return false
	}
	if len(s.needles) > 0 && line.lower != "" && !containsAny(line.lower, s.needles) {
		return false
	}
	if !s.Regexp.MatchString(line.text) {
		return false
	}
	return s.Unless == nil || !s.Unless.MatchString(line.text)
}

func (s *Signature) appearsIn(log Component) bool {
	if appearsIn(s.Component, log) {
		return true
	}
	for _, c := range s.Also {
		if appearsIn(c, log) {
			return true
		}
	}
	return false
}

// Logs names the components whose logs carry the signature's lines.
func (s *Signature) Logs() []Component {
	return append([]Component{s.Component}, s.Also...)
}

// Hit is a line that matched a signature.
type Hit struct {
	Signature *Signature
	// Line is the line as logged (a klog multi-line value joined into one
	// line), cut to MaxLine bytes.
	Line string
	// Log is the component whose log the line was read from, and File the
	// file (Watcher and Scan only).
	Log  Component
	File string
}

// MaxLine bounds the bytes of a line that are matched and kept; longer
// lines are cut. Every pattern fits well inside it.
const MaxLine = 64 << 10

var unescape = strings.NewReplacer(`\\\"`, `"`, `\"`, `"`, `\\n`, " ", `\n`, " ", `\t`, " ")

// Normalize prepares a line for matching: it cuts it to MaxLine bytes and
// undoes two levels of quote escaping, so `err="cannot enter cgroupv2
// \"/sys/fs/cgroup/kubepods\"..."` and a JSON "error":"..." read like the
// plain message.
func Normalize(line string) string {
	if len(line) > MaxLine {
		line = line[:MaxLine]
	}
	if strings.IndexByte(line, '\\') < 0 {
		return line
	}
	return unescape.Replace(unescape.Replace(line))
}

// Match returns the first signature of Table that fires on line, read from
// the log of component (Any or "" when unknown), or nil.
func Match(component, line string) *Hit {
	return MatchIn(Table(), Component(component), line)
}

// MatchIn is Match over another table.
func MatchIn(table []Signature, log Component, line string) *Hit {
	n := prepare(line)
	for i := range table {
		if table[i].matches(log, n) {
			if len(line) > MaxLine {
				line = line[:MaxLine]
			}
			return &Hit{Signature: &table[i], Line: line, Log: log}
		}
	}
	return nil
}

// Lookup returns the signature with code, or nil.
func Lookup(code string) *Signature {
	for i := range Table() {
		if Table()[i].Code == code {
			return &Table()[i]
		}
	}
	return nil
}

// Decide says what to do after s fired during an attempt of plan (nil: an
// attempt at T0 with nothing set), on a ladder that may run every rung:
// see Next.
func (s *Signature) Decide(plan *adapters.Plan) Decision {
	return Next(plan, &s.Action, nil)
}

func hasSetting(plan *adapters.Plan, s adapters.Setting) bool {
	if plan == nil {
		return false
	}
	v, ok := plan.Get(s.Component, s.Name)
	if !ok {
		return false
	}
	if v == s.Value {
		return true
	}
	if s.Name == "feature-gates" {
		for _, g := range strings.Split(v, ",") {
			if strings.TrimSpace(g) == s.Value {
				return true
			}
		}
	}
	return false
}

func hasShim(plan *adapters.Plan, name string) bool {
	if plan == nil {
		return false
	}
	for _, sh := range plan.Shims {
		if sh.Name == name {
			return true
		}
	}
	return false
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
