// Package cgroups probes the control groups a kubelet would manage: the
// layout (none, v1, v2 or hybrid), the controllers the process can use,
// whether it sits in a cgroup namespace of its own, and, actively, whether
// it can create child cgroups, move a process into them and enable
// controllers for them.
//
// The kubelet creates kubepods/ and one cgroup per QoS class and pod under
// its own cgroup, then moves containers into them: read-only or
// unwritable cgroupfs (every Docker-like container on a v1 host), missing
// pids or memory controllers, and a cgroup2 root whose processes have not
// been evacuated (the no-internal-process rule) each stop it in a
// different way.
package cgroups

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/procfs"
)

// Probe is the passive cgroups probe: it reads mountinfo, /proc/self/cgroup,
// /proc/cgroups and the cgroup2 interface files, and writes nothing.
type Probe struct{}

var _ probes.Probe = Probe{}

// Codes of the passive cgroups probe.
var (
	CodeNone = probes.Code{Code: "KP-CG-001", Severity: probes.Block,
		Title:   "no cgroup hierarchy is mounted",
		Meaning: "the kubelet and containerd need cgroups to account and limit pods; without any cgroup filesystem (gVisor, bubblewrap) no worker can start, only an agentless control plane.",
		Fix:     "mount cgroup2 as root with CAP_SYS_ADMIN: mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup; otherwise kprobe launch runs pods as processes (TP) or the control plane only (T3)"}
	CodeV1 = probes.Code{Code: "KP-CG-002", Severity: probes.Warn,
		Title:   "cgroup v1 (or hybrid) layout",
		Meaning: "the kubelet treats a hybrid layout as v1; kubelet 1.35 and later refuses to start on cgroup v1 unless its configuration sets failCgroupV1: false.",
		Fix:     "nothing to do: kprobe launch sets the kubelet's failCgroupV1: false itself; the lasting fix is cgroup v2"}
	CodeMissingController = probes.Code{Code: "KP-CG-003", Severity: probes.Warn,
		Title:   "memory or pids controller missing",
		Meaning: "the kubelet needs the memory controller for pod limits and eviction and the pids controller for pod PID limits; k3s stops with \"pids cgroup controller not found\" and cgroups-per-qos=false does not help.",
		Fix:     "delegate the controllers to this cgroup (systemd: Delegate=yes; by hand, as root on the host: echo '+memory +pids' > PARENT/cgroup.subtree_control), or enable them in the kernel: cgroup_enable=memory cgroup_memory=1 on the kernel command line"}
	CodeHybridV2Controllers = probes.Code{Code: "KP-CG-007", Severity: probes.Info,
		Title:   "hybrid layout with controllers on cgroup2",
		Meaning: "crun refuses a hybrid layout whose cgroup2 hierarchy holds a controller (\"cgroups in hybrid mode not supported, drop all controllers from cgroupv2\"); runc, the k3s default, is not affected.",
		Fix:     "keep runc as the runtime (the k3s default); for crun hide the v2 mount in its mount namespace: umount -l /sys/fs/cgroup/unified"}
)

// kubeControllers are the controllers reported in cgroups.controllers:
// the ones the kubelet and runc look for.
var kubeControllers = []string{"cpu", "cpuset", "devices", "freezer", "memory", "pids"}

func (Probe) ID() string            { return "cgroups" }
func (Probe) Domain() probes.Domain { return probes.DomainCgroups }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code {
	return []probes.Code{CodeNone, CodeV1, CodeMissingController, CodeHybridV2Controllers}
}
func (Probe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "cgroups.layout", Type: probes.TypeString, Doc: "none, v1, v2 or hybrid (v1 controllers plus cgroup2 elsewhere, as the kubelet sees it); unknown when mountinfo is unreadable"},
		{Key: "cgroups.controllers", Type: probes.TypeList, Doc: "which of cpu cpuset devices freezer memory pids the kubelet would find (v1 hierarchies on v1/hybrid, the process's cgroup.controllers on v2)"},
		{Key: "cgroups.v1_controllers", Type: probes.TypeList, Doc: "every controller of the mounted v1 hierarchies"},
		{Key: "cgroups.v2_mount", Type: probes.TypeString, Doc: "mountpoint of the cgroup2 hierarchy, \"\" when none is mounted"},
		{Key: "cgroups.v2_controllers", Type: probes.TypeList, Doc: "cgroup.controllers of the process's cgroup2 cgroup"},
		{Key: "cgroups.v2_subtree_control", Type: probes.TypeList, Doc: "cgroup.subtree_control of the process's cgroup2 cgroup"},
		{Key: "cgroups.v2_delegated", Type: probes.TypeTri, Doc: "the process's cgroup2 cgroup offers cpu, memory and pids on a read-write mount"},
		{Key: "cgroups.enabled", Type: probes.TypeList, Doc: "controllers enabled in /proc/cgroups"},
		{Key: "cgroups.self_path", Type: probes.TypeString, Doc: "the process's cgroup (the cgroup2 line of /proc/self/cgroup, else the memory one); \"\" when the file is empty (gVisor)"},
		{Key: "cgroups.own_path", Type: probes.TypeString, Doc: "the process's cgroup below the root of the mounts the kubelet uses (cgroups.OwnPath): \"/\" where they show it as their root, deeper where they show the host's tree; \"\" when the hierarchies disagree or it cannot be told"},
		{Key: "cgroups.namespace", Type: probes.TypeTri, Doc: "the process runs in a cgroup namespace of its own (not the initial one)"},
		{Key: "cgroups.cgroup2_fs", Type: probes.TypeTri, Doc: "cgroup2 is listed in /proc/filesystems"},
		{Key: "cgroups.read_only", Type: probes.TypeTri, Doc: "every cgroup hierarchy the kubelet would use is mounted read-only"},
	}
}

// view is what Run learnt, shared with the active probe.
type view struct {
	mounts      []Mount
	members     []Membership
	membersOK   bool
	layout      string
	v2          Mount
	hasV2       bool
	v2Dir       string // absolute directory of the process's cgroup2 cgroup
	v2Ctl       []string
	v2CtlOK     bool
	v2Subtree   []string
	v2SubtreeOK bool
}

// rel turns an absolute path into a path of env.Root.
func rel(abs string) string {
	r := strings.TrimLeft(abs, "/")
	if r == "" {
		return "."
	}
	return r
}

// look reads the mount table and the process's memberships. A mountinfo
// that cannot be read is returned as an error.
func look(env *probes.Env, o *probes.Observation) (*view, error) {
	v := &view{layout: "unknown"}
	mi, err := fs.ReadFile(env.Root, "proc/self/mountinfo")
	if err != nil {
		o.Note("/proc/self/mountinfo", "", err)
		return v, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	// A garbled table may hide a hierarchy: the layout stays unknown.
	all, err := procfs.ParseMountinfo(bytes.NewReader(mi))
	if err != nil {
		o.Note("/proc/self/mountinfo", "", err)
		return v, err
	}
	// Only mounts that paths reach count: a cgroup tree covered by a later
	// mount (runc's rootless spec binds the host's /sys, then mounts its
	// own tmpfs on /sys/fs/cgroup) is still listed but cannot be used.
	vis := procfs.Visible(all)
	v.mounts = CgroupMounts(vis)
	if covered := len(CgroupMounts(all)) - len(v.mounts); covered > 0 {
		o.Note("/proc/self/mountinfo", fmt.Sprintf("%d cgroup mount(s) covered by later mounts, ignored: %s",
			covered, coveredCgroupMounts(all, vis)), nil)
	}
	v.layout = Layout(v.mounts)
	v.v2, v.hasV2 = V2Mount(v.mounts)

	pc, err := fs.ReadFile(env.Root, "proc/self/cgroup")
	if err != nil {
		o.Note("/proc/self/cgroup", "", err)
	} else if v.members, err = ParseProcCgroup(bytes.NewReader(pc)); err != nil {
		o.Note("/proc/self/cgroup", "", err)
	} else {
		v.membersOK = true
		o.Note("/proc/self/cgroup", firstLines(string(pc), 12), nil)
	}

	if v.hasV2 {
		p, ok := V2Path(v.members)
		if !ok {
			p = v.v2.Root // no cgroup2 line: assume the mount shows our cgroup
		}
		v.v2Dir = CgroupDir(v.v2, p)
		if strings.HasPrefix(v.v2.Root, "/..") {
			// Mounted outside our cgroup namespace: the mount shows an
			// ancestor and our cgroup's name below it is not visible.
			o.Note(v.v2.Mountpoint, "mount root "+v.v2.Root+" lies above the cgroup namespace; reading the mountpoint", nil)
		}
		if b, err := fs.ReadFile(env.Root, rel(v.v2Dir+"/cgroup.controllers")); err == nil {
			v.v2Ctl, v.v2CtlOK = ParseControllerList(string(b)), true
		} else {
			o.Note(v.v2Dir+"/cgroup.controllers", "", err)
		}
		if b, err := fs.ReadFile(env.Root, rel(v.v2Dir+"/cgroup.subtree_control")); err == nil {
			v.v2Subtree, v.v2SubtreeOK = ParseControllerList(string(b)), true
		} else {
			o.Note(v.v2Dir+"/cgroup.subtree_control", "", err)
		}
	}
	return v, nil
}

// Run reads the cgroup layout and membership. It judges only what it
// reads; writability is the job of the active probe cgroups.write.
func (Probe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()

	if b, err := fs.ReadFile(env.Root, "proc/filesystems"); err == nil {
		o.Set("cgroups.cgroup2_fs", probes.TriOf(HasFilesystem(string(b), "cgroup2")))
	} else {
		o.Note("/proc/filesystems", "", err)
		o.Set("cgroups.cgroup2_fs", probes.Unknown)
	}
	var subs []Subsystem
	if b, err := fs.ReadFile(env.Root, "proc/cgroups"); err == nil {
		var perr error
		if subs, perr = ParseProcCgroups(bytes.NewReader(b)); perr == nil {
			enabled := []string{}
			for _, s := range subs {
				if s.Enabled {
					enabled = append(enabled, s.Name)
				}
			}
			o.Set("cgroups.enabled", enabled)
		} else {
			o.Note("/proc/cgroups", "", perr)
		}
	} else {
		o.Note("/proc/cgroups", "", err)
	}

	v, lookErr := look(env, o)
	o.Set("cgroups.layout", v.layout)
	namespace(env, o, v)
	if lookErr != nil {
		return o, lookErr
	}
	var lines []string
	for _, m := range v.mounts {
		ro := ""
		if m.ReadOnly {
			ro = " ro"
		}
		lines = append(lines, fmt.Sprintf("%s %s%s (%s)", m.FSType, m.Mountpoint, ro, strings.Join(append(slices.Clone(m.Controllers), nameOpt(m)...), ",")))
	}
	o.Note("/proc/self/mountinfo", strings.Join(lines, "; "), nil)

	if v.membersOK {
		o.Set("cgroups.self_path", selfPath(v))
		own, _ := OwnPath(v.mounts, v.members, v.layout)
		o.Set("cgroups.own_path", own)
	}

	o.Set("cgroups.v2_mount", "")
	if v.hasV2 {
		o.Set("cgroups.v2_mount", v.v2.Mountpoint)
		if v.v2CtlOK {
			o.Set("cgroups.v2_controllers", v.v2Ctl)
			o.Note(v.v2Dir+"/cgroup.controllers", strings.Join(v.v2Ctl, " "), nil)
		}
		if v.v2SubtreeOK {
			o.Set("cgroups.v2_subtree_control", v.v2Subtree)
		}
	}

	v1 := []string{}
	for _, m := range topMounts(v.mounts) {
		for _, c := range m.Controllers {
			if !slices.Contains(v1, c) {
				v1 = append(v1, c)
			}
		}
	}
	slices.Sort(v1)
	o.Set("cgroups.v1_controllers", v1)

	// What the kubelet finds: v1 hierarchies unless the layout is pure v2.
	var have []string
	known := true
	switch v.layout {
	case "v1", "hybrid":
		have = v1
	case "v2":
		if v.v2CtlOK {
			have = slices.Clone(v.v2Ctl)
			// cgroup2 has no devices controller file: devices is an eBPF
			// program every cgroup2 hierarchy supports; the freezer is
			// cgroup.freeze, absent only from the root cgroup.
			have = append(have, "devices")
			if _, err := fs.Stat(env.Root, rel(v.v2Dir+"/cgroup.freeze")); err == nil {
				have = append(have, "freezer")
			}
		} else {
			known = false
		}
	case "none":
		have = nil
	}
	if known {
		ctl := []string{}
		for _, c := range kubeControllers {
			if slices.Contains(have, c) {
				ctl = append(ctl, c)
			}
		}
		o.Set("cgroups.controllers", ctl)
	}

	// Delegation of cgroup2 to this process.
	switch {
	case !v.hasV2:
		o.Set("cgroups.v2_delegated", probes.No)
	case !v.v2CtlOK:
		o.Set("cgroups.v2_delegated", probes.Unknown)
	default:
		ok := !v.v2.ReadOnly
		for _, c := range []string{"cpu", "memory", "pids"} {
			ok = ok && slices.Contains(v.v2Ctl, c)
		}
		o.Set("cgroups.v2_delegated", probes.TriOf(ok))
	}

	// Read-only hierarchies: the ones the kubelet would write.
	var used []Mount
	for _, m := range topMounts(v.mounts) {
		if (v.layout == "v2" && m.V2()) || (v.layout != "v2" && len(m.Controllers) > 0) {
			used = append(used, m)
		}
	}
	if len(used) > 0 {
		ro := true
		for _, m := range used {
			ro = ro && m.ReadOnly
		}
		o.Set("cgroups.read_only", probes.TriOf(ro))
	}

	judge(env, o, v, subs, known, have)
	o.Summary = summary(o.Facts)
	return o, nil
}

// summary says what the kubelet would find: "hybrid, all 6 kubelet
// controllers, cgroup2 at /sys/fs/cgroup/unified, host cgroup namespace".
func summary(f probes.Facts) string {
	layout := f.String("cgroups.layout")
	if layout == "none" {
		return "no cgroup hierarchy mounted"
	}
	parts := []string{layout}
	if ctl, ok := f["cgroups.controllers"].([]string); ok {
		var missing []string
		for _, c := range kubeControllers {
			if !slices.Contains(ctl, c) {
				missing = append(missing, c)
			}
		}
		if len(missing) == 0 {
			parts = append(parts, fmt.Sprintf("all %d kubelet controllers", len(kubeControllers)))
		} else {
			parts = append(parts, "no "+strings.Join(missing, " "))
		}
	}
	if f.Tri("cgroups.read_only") == probes.Yes {
		parts = append(parts, "read-only")
	}
	if mp := f.String("cgroups.v2_mount"); mp != "" && mp != "/sys/fs/cgroup" {
		parts = append(parts, "cgroup2 at "+mp)
	}
	if layout == "v2" && f.Tri("cgroups.v2_delegated") != probes.Unknown {
		parts = append(parts, map[probes.Tri]string{probes.Yes: "delegated", probes.No: "not delegated"}[f.Tri("cgroups.v2_delegated")])
	}
	switch f.Tri("cgroups.namespace") {
	case probes.Yes:
		parts = append(parts, "own cgroup namespace")
	case probes.No:
		parts = append(parts, "host cgroup namespace")
	}
	return strings.Join(parts, ", ")
}

// selfPath is the cgroup the kubelet would nest under: the cgroup2 one on
// a v2 layout, the memory one on v1 and hybrid.
func selfPath(v *view) string {
	if v.layout != "v2" {
		if p, ok := V1Path(v.members, "memory"); ok {
			return p
		}
	}
	p, _ := V2Path(v.members)
	return p
}

func nameOpt(m Mount) []string {
	if m.Name == "" {
		return nil
	}
	return []string{"name=" + m.Name}
}

// namespace decides cgroups.namespace from the namespace link, falling
// back on the paths of /proc/self/cgroup: in a private cgroup namespace
// every path is "/".
func namespace(env *probes.Env, o *probes.Observation, v *view) {
	link, err := fs.ReadLink(env.Root, "proc/self/ns/cgroup")
	if err == nil {
		if own, ok := OwnNamespace(link); ok {
			o.Note("/proc/self/ns/cgroup", link, nil)
			o.Set("cgroups.namespace", probes.TriOf(own))
			return
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := fs.Stat(env.Root, "proc/self/ns"); derr == nil {
			// The ns directory exists but has no cgroup entry: the
			// kernel (or gVisor) has no cgroup namespaces.
			o.Note("/proc/self/ns/cgroup", "absent: no cgroup namespaces", err)
			o.Set("cgroups.namespace", probes.No)
			return
		}
	}
	o.Note("/proc/self/ns/cgroup", link, err)
	if v.membersOK && len(v.members) > 0 {
		allRoot := true
		for _, m := range v.members {
			allRoot = allRoot && m.Path == "/"
		}
		if !allRoot {
			// A path above "/" is visible: the namespace, if any, is
			// not rooted at our cgroup.
			o.Set("cgroups.namespace", probes.No)
			return
		}
	}
	o.Set("cgroups.namespace", probes.Unknown)
}

func judge(env *probes.Env, o *probes.Observation, v *view, subs []Subsystem, known bool, have []string) {
	ev := probes.Evidence{Source: "/proc/self/mountinfo", Excerpt: "cgroup layout " + v.layout}
	switch v.layout {
	case "none":
		o.Find(CodeNone, "no cgroup or cgroup2 filesystem is mounted", ev)
		return
	case "v1", "hybrid":
		o.Find(CodeV1, "cgroup layout is "+v.layout+": the kubelet runs in cgroup v1 mode", ev)
	}
	if v.layout == "hybrid" && v.hasV2 {
		b, err := fs.ReadFile(env.Root, rel(v.v2.Mountpoint+"/cgroup.controllers"))
		if err == nil && len(ParseControllerList(string(b))) > 0 {
			o.Find(CodeHybridV2Controllers, "cgroup2 at "+v.v2.Mountpoint+" holds "+strings.TrimSpace(string(b)),
				probes.Evidence{Source: v.v2.Mountpoint + "/cgroup.controllers", Excerpt: strings.TrimSpace(string(b))})
		}
	}
	if !known {
		return
	}
	var missing []string
	for _, c := range []string{"memory", "pids"} {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return
	}
	enabled := o.Facts.List("cgroups.enabled")
	_, haveEnabled := o.Facts["cgroups.enabled"]
	var disabled, onV1 []string
	for _, c := range missing {
		if haveEnabled && !slices.Contains(enabled, c) {
			disabled = append(disabled, c)
		}
		for _, s := range subs {
			if s.Name == c && s.Enabled && s.Hierarchy != 0 && v.layout == "v2" {
				onV1 = append(onV1, c)
			}
		}
	}
	var fix string
	switch {
	case len(onV1) > 0:
		fix = strings.Join(onV1, ", ") + " is bound to a cgroup v1 hierarchy, so cgroup2 cannot offer it: boot with systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all (WSL2: kernelCommandLine in .wslconfig)"
	case len(disabled) > 0:
		fix = "the kernel does not offer " + strings.Join(disabled, ", ") + ": add cgroup_enable=memory cgroup_memory=1 to the kernel command line (pids needs CONFIG_CGROUP_PIDS), or use another machine"
	case v.layout == "v2":
		fix = fmt.Sprintf("delegate them to %s from its parent, as root outside the sandbox: echo '%s' > PARENT/cgroup.subtree_control (systemd: Delegate=yes)",
			v.v2Dir, "+"+strings.Join(missing, " +"))
	default:
		var cmds []string
		for _, c := range missing {
			cmds = append(cmds, fmt.Sprintf("mkdir -p /sys/fs/cgroup/%s && mount -t cgroup -o %s cgroup /sys/fs/cgroup/%s", c, c, c))
		}
		fix = "mount the hierarchy as root: " + strings.Join(cmds, " && ")
	}
	o.FindFix(CodeMissingController, strings.Join(missing, " and ")+" controller missing",
		probes.Evidence{Source: "/proc/self/mountinfo", Excerpt: "controllers: " + strings.Join(have, " ")}, fix)
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, " | ")
}

// coveredCgroupMounts lists the cgroup mounts of all that are not in
// visible: "cgroup2 /sys/fs/cgroup/unified, ...".
func coveredCgroupMounts(all, visible []*mountinfo.Info) string {
	seen := map[*mountinfo.Info]bool{}
	for _, m := range visible {
		seen[m] = true
	}
	var out []string
	for _, m := range all {
		if (m.FSType == "cgroup" || m.FSType == "cgroup2") && !seen[m] {
			out = append(out, m.FSType+" "+m.Mountpoint)
		}
	}
	return strings.Join(out, ", ")
}
