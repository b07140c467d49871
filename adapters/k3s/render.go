// Package k3s renders an engine-neutral plan into what the k3s binary
// reads: its config.yaml, its command line and environment, and - when
// the plan needs containerd settings k3s has no flag for - a containerd
// config template in k3s's data dir. It also finds the k3s binary.
//
// Rendering is pure and deterministic: the same plan and options give
// byte-identical output, so renders can be compared and golden-tested.
package k3s

import (
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kprobe/kprobe/adapters"
)

// Defaults.
const (
	// DefaultDataDir is k3s's own default for a root server.
	DefaultDataDir = "/var/lib/rancher/k3s"
	// DefaultKubeconfigMode makes the admin kubeconfig readable by the
	// user who launched kprobe without sudo.
	DefaultKubeconfigMode = "0644"
)

// Options are the launch choices that are not part of the plan.
type Options struct {
	// ConfigPath is where config.yaml is written; default
	// <data dir>/kprobe/config.yaml, which keeps kprobe's file apart from
	// a hand-written /etc/rancher/k3s/config.yaml.
	ConfigPath string
	// DataDir overrides the plan's data dir (and any data-dir setting).
	DataDir string
	// K3sVersion ("v1.32.2+k3s1") picks the containerd template file:
	// config-v3.toml.tmpl for k3s with containerd 2.x, config.toml.tmpl
	// before. Empty means unknown (see templateFor).
	K3sVersion string
	// WriteKubeconfigMode is --write-kubeconfig-mode; default 0644.
	WriteKubeconfigMode string
	// Kubeconfig is --write-kubeconfig; empty keeps k3s's default.
	Kubeconfig string
	// BindAddress is k3s's --bind-address, where its supervisor and API
	// listen on 6443 (k3s's own default is every address); empty means
	// 127.0.0.1. launch passes launch.APIBindAddress's choice: loopback for
	// a control plane alone, the node's address when pods must reach it.
	BindAddress string
	// ExtraArgs are the user's own k3s server arguments, appended to the
	// command line verbatim after kprobe's.
	ExtraArgs []string
}

// File is one file the launcher writes before starting k3s.
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// Rendered is everything needed to start k3s for a plan.
type Rendered struct {
	// Args follow the binary: "server --config <ConfigPath>" and the
	// user's extra arguments.
	Args []string
	// Env holds KEY=VALUE pairs to add to the environment, sorted.
	Env []string
	// DataDir is k3s's --data-dir.
	DataDir string
	// ConfigPath and Config are k3s's config.yaml.
	ConfigPath string
	Config     []byte
	// ContainerdTemplatePath and ContainerdTemplate are set when the plan
	// has containerd settings without a k3s flag.
	ContainerdTemplatePath string
	ContainerdTemplate     []byte
	// Notes are caveats of this render a user should know about.
	Notes []string
}

// Files lists the files to write, config first.
func (r *Rendered) Files() []File {
	files := []File{{Path: r.ConfigPath, Data: r.Config, Mode: 0o600}}
	if r.ContainerdTemplatePath != "" {
		files = append(files, File{Path: r.ContainerdTemplatePath, Data: r.ContainerdTemplate, Mode: 0o600})
	}
	return files
}

// containerdFlags are CRI keys that k3s sets from a flag of its own;
// they go into config.yaml rather than a containerd template.
var containerdFlags = map[string]string{
	"snapshotter":                            "snapshotter",
	"sandbox_image":                          "pause-image",
	"enable_selinux":                         "selinux",
	"device_ownership_from_security_context": "nonroot-devices",
}

// value is one rendered value and the rule that chose it.
type value struct {
	v      string
	reason string
}

// entry is one config.yaml key.
type entry struct {
	kind   flagKind
	values []value
}

type renderer struct {
	keys map[string]*entry
	cri  map[string]value // containerd keys for the template
	env  map[string]value
}

// Render turns a plan into k3s's config.yaml, args, environment and, when
// needed, a containerd config template.
func Render(plan *adapters.Plan, o Options) (*Rendered, error) {
	if plan == nil {
		return nil, fmt.Errorf("k3s: no plan")
	}
	if plan.Engine != "" && plan.Engine != adapters.EngineK3s {
		return nil, fmt.Errorf("k3s: the plan is for engine %q, not k3s", plan.Engine)
	}
	if plan.ProcessPods() {
		return nil, fmt.Errorf("k3s: process pods (%s) run beside the kubernetes engine only: use --engine kubernetes, or add --process-pods=false for a control plane only", plan.Rung)
	}
	r := &renderer{keys: map[string]*entry{}, cri: map[string]value{}, env: map[string]value{}}
	dataDir := plan.DataDir
	dataDirReason := ""
	for _, s := range plan.Settings {
		if s.Component == adapters.Cluster && s.Name == "data-dir" {
			dataDir, dataDirReason = s.Value, s.Reason
			continue
		}
		if err := r.add(s); err != nil {
			return nil, err
		}
	}
	if o.DataDir != "" {
		dataDir, dataDirReason = o.DataDir, ""
	}
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	dataDir = filepath.Clean(dataDir)
	if !filepath.IsAbs(dataDir) {
		return nil, fmt.Errorf("k3s: data dir %q must be an absolute path", dataDir)
	}
	if err := r.set("data-dir", value{v: dataDir, reason: dataDirReason}); err != nil {
		return nil, err
	}
	mode := o.WriteKubeconfigMode
	if mode == "" {
		mode = DefaultKubeconfigMode
	}
	if _, err := strconv.ParseUint(mode, 8, 32); err != nil {
		return nil, fmt.Errorf("k3s: write-kubeconfig-mode %q is not an octal file mode", mode)
	}
	if _, set := r.keys["write-kubeconfig-mode"]; !set {
		if err := r.set("write-kubeconfig-mode", value{v: mode}); err != nil {
			return nil, err
		}
	}
	bind := o.BindAddress
	if bind == "" {
		bind = "127.0.0.1"
	}
	if net.ParseIP(bind) == nil {
		return nil, fmt.Errorf("k3s: bind address %q is not an IP address", bind)
	}
	if _, set := r.keys["bind-address"]; !set {
		if err := r.set("bind-address", value{v: bind}); err != nil {
			return nil, err
		}
	}
	if o.Kubeconfig != "" {
		if err := r.set("write-kubeconfig", value{v: o.Kubeconfig}); err != nil {
			return nil, err
		}
	}

	out := &Rendered{DataDir: dataDir, ConfigPath: o.ConfigPath}
	if out.ConfigPath == "" {
		out.ConfigPath = filepath.Join(dataDir, "kprobe", "config.yaml")
	}
	out.Config = r.yaml(plan)
	out.Args = append([]string{"server", "--config", out.ConfigPath}, o.ExtraArgs...)
	for k, v := range r.env {
		out.Env = append(out.Env, k+"="+v.v)
	}
	sort.Strings(out.Env)

	if len(r.cri) > 0 && r.agentless() {
		out.Notes = append(out.Notes, "no containerd template: the plan disables the agent, so k3s runs no containerd")
	} else if len(r.cri) > 0 {
		name, v3, err := templateFor(o.K3sVersion)
		if err != nil {
			return nil, err
		}
		tmpl, notes, err := containerdTemplate(r.cri, v3, name)
		if err != nil {
			return nil, err
		}
		out.ContainerdTemplatePath = filepath.Join(dataDir, "agent", "etc", "containerd", name)
		out.ContainerdTemplate = tmpl
		out.Notes = append(out.Notes, notes...)
	}
	return out, nil
}

// agentless reports whether the plan runs k3s without its agent.
func (r *renderer) agentless() bool {
	e := r.keys["disable-agent"]
	return e != nil && len(e.values) > 0 && e.values[0].v == "true"
}

// add places one plan setting.
func (r *renderer) add(s adapters.Setting) error {
	v := value{v: s.Value, reason: s.Reason}
	switch s.Component {
	case adapters.Kubelet, adapters.KubeProxy, adapters.KubeAPIServer,
		adapters.KubeControllerManager, adapters.KubeScheduler:
		name := strings.TrimLeft(s.Name, "-")
		if name == "" || strings.ContainsAny(name, "= ") {
			return fmt.Errorf("k3s: %s setting %q is not a flag name", s.Component, s.Name)
		}
		flag := componentArgFlag[string(s.Component)]
		// Two values for one component flag would pass both; refuse.
		if e := r.keys[flag]; e != nil {
			for _, have := range e.values {
				if n, _, _ := strings.Cut(have.v, "="); n == name {
					return fmt.Errorf("k3s: %s flag %s set twice (%s by %s, %s by %s)",
						s.Component, name, have.v, reasonOr(have.reason), name+"="+s.Value, reasonOr(s.Reason))
				}
			}
		}
		v.v = name + "=" + s.Value
		return r.set(flag, v)
	case adapters.Containerd:
		if flag, ok := containerdFlags[s.Name]; ok {
			return r.set(flag, v)
		}
		if _, ok := criKeys[s.Name]; !ok {
			return fmt.Errorf("k3s: containerd setting %q has no k3s flag and kprobe does not know where it goes in containerd's config (known: %s)",
				s.Name, strings.Join(criKeyNames(), ", "))
		}
		if have, dup := r.cri[s.Name]; dup && have.v != s.Value {
			return fmt.Errorf("k3s: containerd %s set twice (%s by %s, %s by %s)",
				s.Name, have.v, reasonOr(have.reason), s.Value, reasonOr(s.Reason))
		}
		r.cri[s.Name] = v
		return nil
	case adapters.Cluster:
		if rootlessEnv[s.Name] {
			if have, dup := r.env[s.Name]; dup && have.v != s.Value {
				return fmt.Errorf("k3s: %s set twice (%s, %s)", s.Name, have.v, s.Value)
			}
			r.env[s.Name] = v
			return nil
		}
		return r.set(s.Name, v)
	default:
		return fmt.Errorf("k3s: unknown component %q in setting %s", s.Component, s)
	}
}

// set records a config.yaml key, checking that it is a k3s server flag
// and that its value fits the flag.
func (r *renderer) set(flag string, v value) error {
	kind, ok := knownServerFlags[flag]
	if !ok {
		return fmt.Errorf("k3s: %q is not a k3s server flag (setting chosen by %s)", flag, reasonOr(v.reason))
	}
	e := r.keys[flag]
	if e == nil {
		e = &entry{kind: kind}
		r.keys[flag] = e
	}
	switch kind {
	case kindBool:
		b, err := strconv.ParseBool(v.v)
		if err != nil {
			return fmt.Errorf("k3s: %s takes true or false, got %q (%s)", flag, v.v, reasonOr(v.reason))
		}
		v.v = strconv.FormatBool(b)
		fallthrough
	case kindString:
		if len(e.values) > 0 && e.values[0].v != v.v {
			return fmt.Errorf("k3s: %s set twice (%q by %s, %q by %s)",
				flag, e.values[0].v, reasonOr(e.values[0].reason), v.v, reasonOr(v.reason))
		}
		e.values = []value{v}
	case kindSlice:
		// "disable: traefik,servicelb" and repeated settings both become
		// one list item per value.
		parts := []string{v.v}
		if !componentFlag(flag) {
			parts = strings.Split(v.v, ",")
		}
		for _, p := range parts {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			e.values = append(e.values, value{v: p, reason: v.reason})
		}
	}
	return nil
}

// componentFlag reports whether a slice flag carries "name=value" flags
// of a component, whose values may themselves contain commas
// (feature-gates=A=true,B=false).
func componentFlag(flag string) bool {
	for _, f := range componentArgFlag {
		if f == flag {
			return true
		}
	}
	return strings.HasSuffix(flag, "-arg")
}

func reasonOr(r string) string {
	if r == "" {
		return "an option"
	}
	return r
}

// yaml writes config.yaml: keys sorted, list items sorted and deduped,
// each value followed by the code of the rule that chose it.
func (r *renderer) yaml(plan *adapters.Plan) []byte {
	var b strings.Builder
	b.WriteString("# k3s server configuration written by kprobe; kprobe rewrites it on every launch.\n")
	fmt.Fprintf(&b, "# Plan: engine k3s, rung %s. A comment after a value names the rule that chose it.\n", orDash(string(plan.Rung)))
	names := make([]string, 0, len(r.keys))
	for k := range r.keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		e := r.keys[k]
		switch e.kind {
		case kindSlice:
			vals := dedupe(e.values)
			if len(vals) == 0 {
				continue
			}
			fmt.Fprintf(&b, "%s:\n", k)
			for _, v := range vals {
				fmt.Fprintf(&b, "  - %s%s\n", yamlQuote(v.v), comment(v.reason))
			}
		case kindBool:
			fmt.Fprintf(&b, "%s: %s%s\n", k, e.values[0].v, comment(e.values[0].reason))
		default:
			fmt.Fprintf(&b, "%s: %s%s\n", k, yamlQuote(e.values[0].v), comment(e.values[0].reason))
		}
	}
	return []byte(b.String())
}

// dedupe sorts values and drops repeats, keeping the reasons of all
// rules that asked for the same value.
func dedupe(in []value) []value {
	byValue := map[string][]string{}
	for _, v := range in {
		byValue[v.v] = append(byValue[v.v], v.reason)
	}
	out := make([]value, 0, len(byValue))
	for v, reasons := range byValue {
		out = append(out, value{v: v, reason: joinReasons(reasons)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].v < out[j].v })
	return out
}

func joinReasons(rs []string) string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func comment(reason string) string {
	if reason == "" {
		return ""
	}
	return " # " + reason
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// yamlQuote writes a YAML double-quoted scalar. strconv.Quote's escapes
// (\", \\, \n, \t, \xXX, \uXXXX, \UXXXXXXXX, \a, \b, \f, \r, \v) are all
// valid YAML double-quoted escapes, so its output is valid YAML.
func yamlQuote(s string) string {
	return strconv.Quote(s)
}
