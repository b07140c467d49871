// Package tools finds the binaries kprobe can drive or that Kubernetes
// needs (k3s, kubectl, helm, container runtimes, rootless helpers, iptables,
// upstream components) and the CNI plugins, with their versions. It only
// looks them up and runs their version commands: which engine and runtime
// the plan uses depends on what is installed, and an old iptables or a
// missing CNI directory explains failures that look like kernel problems.
package tools

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kprobe/kprobe/probes"
)

// Probe is the tools probe.
type Probe struct{}

var _ probes.Probe = Probe{}

// Tool is a binary the probe looks for and how to ask its version.
type Tool struct {
	Name string
	Args []string
}

// Tools are looked up in this order; the facts are tool.<name>.path and
// tool.<name>.version.
var Tools = []Tool{
	{"k3s", []string{"--version"}},
	{"kubectl", []string{"version", "--client"}},
	{"helm", []string{"version", "--short"}},
	{"containerd", []string{"--version"}},
	{"runc", []string{"--version"}},
	{"crun", []string{"--version"}},
	{"runsc", []string{"--version"}},
	{"fuse-overlayfs", []string{"--version"}},
	{"slirp4netns", []string{"--version"}},
	{"rootlesskit", []string{"--version"}},
	{"iptables", []string{"--version"}},
	{"etcd", []string{"--version"}},
	{"kube-apiserver", []string{"--version"}},
	{"kubelet", []string{"--version"}},
}

// versionTimeout bounds each version command: a binary that hangs (a
// wrapper waiting on a daemon, a gVisor quirk) must not hold the scan.
const versionTimeout = 2 * time.Second

// CNIDirs are where CNI plugins live: the upstream default, Debian's
// containernetworking-plugins, and Fedora's.
var CNIDirs = []string{"opt/cni/bin", "usr/lib/cni", "usr/libexec/cni"}

// bridgeCNI are the plugins a bridge network (k3s' flannel, kprobe's
// upstream engine) needs.
var bridgeCNI = []string{"bridge", "host-local", "loopback", "portmap"}

// sbinDirs are searched when a binary is not on PATH: non-root users
// often lack /usr/sbin, and k3s installs to /usr/local/bin.
var sbinDirs = []string{"usr/local/bin", "usr/local/sbin", "usr/sbin", "sbin", "usr/bin", "bin"}

// Codes of the tools probe.
var (
	CodeNoEngine = probes.Code{Code: "KP-TOOL-001", Severity: probes.Info,
		Title:   "no Kubernetes engine installed",
		Meaning: "Neither k3s nor the upstream components (kube-apiserver, kubelet) are on PATH; kprobe can install one before launching.",
		Fix:     "kprobe install k3s (or build the upstream components: make engine)"}
	CodeNoCNI = probes.Code{Code: "KP-TOOL-002", Severity: probes.Warn,
		Title:   "no CNI plugins found",
		Meaning: "Pods outside hostNetwork need CNI plugins (bridge, host-local, loopback, portmap); none are in /opt/cni/bin, /usr/lib/cni or /usr/libexec/cni. k3s ships its own, upstream components do not.",
		Fix:     "apt-get install -y containernetworking-plugins (Debian puts them in /usr/lib/cni), or use k3s, which bundles them"}
	CodeCNIIncomplete = probes.Code{Code: "KP-TOOL-003", Severity: probes.Warn,
		Title:   "CNI plugins for a bridge network are missing",
		Meaning: "A bridge pod network needs bridge, host-local, loopback and portmap in the CNI directory; pod sandboxes fail with \"failed to find plugin\".",
		Fix:     "apt-get install -y containernetworking-plugins"}
	CodeOldIptables = probes.Code{Code: "KP-TOOL-004", Severity: probes.Warn,
		Title:   "iptables 1.8.0 to 1.8.4",
		Meaning: "k3s' known issues: these releases accumulate duplicate rules, which degrades and destabilises the node (k3s-io/k3s#3117).",
		Fix:     "install a working iptables (apt-get install -y iptables); otherwise kprobe launch runs the worker without kube-proxy and network policy (T2)"}
)

func (Probe) ID() string            { return "tools" }
func (Probe) Domain() probes.Domain { return probes.DomainTools }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code {
	return []probes.Code{CodeNoEngine, CodeNoCNI, CodeCNIIncomplete}
}

func (Probe) Facts() []probes.FactSpec {
	var specs []probes.FactSpec
	for _, t := range Tools {
		specs = append(specs,
			probes.FactSpec{Key: "tool." + t.Name + ".path", Type: probes.TypeString, Doc: t.Name + " on PATH (or in the usual bin dirs), \"\" when absent"})
	}
	return append(specs,
		probes.FactSpec{Key: "tools.cni_dir", Type: probes.TypeString, Doc: "first of /opt/cni/bin, /usr/lib/cni, /usr/libexec/cni that holds plugins, \"\" when none"},
		probes.FactSpec{Key: "tools.cni_plugins", Type: probes.TypeList, Doc: "plugin names in tools.cni_dir"})
}

// Versions is the tools.versions probe: it runs each tool's version
// command. It is active because it starts programs, which a passive scan
// never does; it is also most of a scan's time (a dozen processes).
type Versions struct{}

var _ probes.Probe = Versions{}

// SharesChild implements probes.ChildSharer: a light probe that may run
// in one child with the other light ones.
func (Versions) SharesChild() {}

func (Versions) ID() string            { return "tools.versions" }
func (Versions) Domain() probes.Domain { return probes.DomainTools }
func (Versions) Mode() probes.Mode     { return probes.Active }
func (Versions) Codes() []probes.Code  { return []probes.Code{CodeOldIptables} }
func (Versions) Facts() []probes.FactSpec {
	var specs []probes.FactSpec
	for _, t := range Tools {
		specs = append(specs,
			probes.FactSpec{Key: "tool." + t.Name + ".version", Type: probes.TypeString, Doc: "version line of " + t.Name + " " + strings.Join(t.Args, " ") + " (the first naming the tool, else the first), \"\" when absent, failing or silent"})
	}
	return specs
}

// Run runs the version commands in parallel, each bounded by
// versionTimeout.
func (Versions) Run(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	results := make([]found, len(Tools))
	var wg sync.WaitGroup
	for i, t := range Tools {
		results[i].path = lookPath(env, t.Name)
		if results[i].path == "" {
			continue
		}
		wg.Add(1)
		go func(r *found, t Tool) {
			defer wg.Done()
			vctx, cancel := context.WithTimeout(ctx, versionTimeout)
			defer cancel()
			r.res, r.err = env.Sys.Exec(vctx, r.path, t.Args...)
			if r.err == nil && vctx.Err() != nil {
				r.err = vctx.Err()
			}
		}(&results[i], t)
	}
	wg.Wait()
	var iptables found
	for i, t := range Tools {
		r := &results[i]
		if r.path != "" {
			r.version = VersionLine(t.Name, r.res.Stdout)
			if r.version == "" {
				r.version = VersionLine(t.Name, r.res.Stderr)
			}
			switch {
			case r.err != nil:
				r.version = ""
				o.Note(r.path+" "+strings.Join(t.Args, " "), "", r.err)
			case r.res.ExitCode != 0:
				o.Note(r.path+" "+strings.Join(t.Args, " "), fmt.Sprintf("exit %d: %s", r.res.ExitCode, r.version), nil)
				r.version = ""
			default:
				o.Note(r.path+" "+strings.Join(t.Args, " "), r.version, nil)
			}
		}
		o.Set("tool."+t.Name+".version", r.version)
		if t.Name == "iptables" {
			iptables = *r
		}
	}
	if iptables.version != "" && OldIptables(iptables.version) {
		o.Find(CodeOldIptables, iptables.version, probes.Evidence{Source: iptables.path + " --version", Excerpt: iptables.version})
	}
	o.Summary = summary(o.Facts, results)
	return o, nil
}

type found struct {
	path, version string
	res           probes.ExecResult
	err           error
}

// Run looks every tool up (PATH, then the usual bin dirs) and lists the
// CNI plugins; tools.versions asks their versions.
func (Probe) Run(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	results := make([]found, len(Tools))
	var present []string
	for i, t := range Tools {
		results[i].path = lookPath(env, t.Name)
		o.Set("tool."+t.Name+".path", results[i].path)
		if results[i].path != "" {
			present = append(present, t.Name)
		}
	}
	byName := map[string]found{}
	for i, t := range Tools {
		byName[t.Name] = results[i]
	}
	if byName["k3s"].path == "" && (byName["kube-apiserver"].path == "" || byName["kubelet"].path == "") {
		o.Find(CodeNoEngine, "neither k3s nor kube-apiserver and kubelet are installed",
			probes.Evidence{Source: "PATH", Excerpt: "found: " + strings.Join(present, " ")})
	}
	cni(env, o, byName["k3s"].path != "")
	o.Summary = summary(o.Facts, results)
	return o, nil
}

// summary lists the tools found with their versions, as many as fit, and
// says when no engine is installed: "kubectl v1.32.4, runc 1.1.5, crun
// 1.8.1 (+5 more); no k3s".
func summary(f probes.Facts, results []found) string {
	var items []string
	for i, t := range Tools {
		if results[i].path == "" {
			continue
		}
		it := t.Name
		if v := ShortVersion(results[i].version); v != "" {
			it += " " + v
		}
		items = append(items, it)
	}
	tail := ""
	if pathOf(results, "k3s") == "" && (pathOf(results, "kube-apiserver") == "" || pathOf(results, "kubelet") == "") {
		tail = "; no k3s"
	}
	if len(items) == 0 {
		return "none of the tools found" + tail
	}
	return probes.Fit(items, ", ", 110-len(tail)) + tail
}

func pathOf(results []found, name string) string {
	for i, t := range Tools {
		if t.Name == name {
			return results[i].path
		}
	}
	return ""
}

// cni finds the CNI plugin directory and judges it. k3s extracts its own
// plugins at start, so a missing directory only matters without k3s.
func cni(env *probes.Env, o *probes.Observation, haveK3s bool) {
	for _, d := range CNIDirs {
		ents, err := fs.ReadDir(env.Root, d)
		if err != nil {
			if probes.Errno(err) != "ENOENT" {
				o.Note("/"+d, "", err)
			}
			continue
		}
		var plugins []string
		for _, e := range ents {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			plugins = append(plugins, e.Name())
		}
		if len(plugins) == 0 {
			continue
		}
		sort.Strings(plugins)
		o.Set("tools.cni_dir", "/"+d)
		o.Set("tools.cni_plugins", plugins)
		o.Note("/"+d, strings.Join(plugins, " "), nil)
		var missing []string
		for _, p := range bridgeCNI {
			if !contains(plugins, p) {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 && !haveK3s {
			o.Find(CodeCNIIncomplete, "/"+d+" lacks "+strings.Join(missing, ", "),
				probes.Evidence{Source: "/" + d, Excerpt: strings.Join(plugins, " ")})
		}
		return
	}
	o.Set("tools.cni_dir", "")
	o.Set("tools.cni_plugins", []string{})
	if haveK3s {
		o.Note("CNI", "no system CNI plugins; k3s brings its own", nil)
		return
	}
	o.Find(CodeNoCNI, "no CNI plugins in /"+strings.Join(CNIDirs, ", /"),
		probes.Evidence{Source: "/" + strings.Join(CNIDirs, ", /"), Errno: "ENOENT"})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lookPath finds name on PATH, else in the usual bin directories (through
// env.Root, so that a capture replays it).
func lookPath(env *probes.Env, name string) string {
	if p, err := env.Sys.LookPath(name); err == nil {
		return p
	}
	for _, d := range sbinDirs {
		st, err := fs.Stat(env.Root, path.Join(d, name))
		if err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return "/" + path.Join(d, name)
		}
	}
	return ""
}
