// Package namespaces tries to create each kind of Linux namespace, with and
// without a new user namespace, and to mount the filesystems a container
// runtime mounts (tmpfs, proc, sysfs, cgroup2) inside them.
//
// Why: runc creates a mount, pid, net, ipc and uts namespace (and on cgroup
// v2 a cgroup namespace) for every pod container and mounts proc, sysfs and
// a tmpfs /dev in it. Rootless Kubernetes (rootlesskit, k3s --rootless,
// usernetes) does the same inside a user namespace that maps root to the
// caller. Whether the sandbox allows each step is not visible from any file:
// seccomp filters (Docker's default profile: EPERM on clone with namespace
// flags), missing capabilities, the 5.12+ CAP_SETFCAP rule on mapping root,
// and gVisor's refusal of every mount inside a child user namespace are
// only seen by trying. The probe is active: each try runs as a re-exec'd
// grandchild (probes.SpawnOp) created with the clone flags under test.
package namespaces

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"

	"github.com/kprobe/kprobe/probes"
)

// Linux clone(2) namespace flags, spelled out so that this file builds on
// every platform (package syscall defines them on Linux only).
const (
	cloneNewNS     uintptr = 0x00020000
	cloneNewCgroup uintptr = 0x02000000
	cloneNewUTS    uintptr = 0x04000000
	cloneNewIPC    uintptr = 0x08000000
	cloneNewUser   uintptr = 0x10000000
	cloneNewPID    uintptr = 0x20000000
	cloneNewNet    uintptr = 0x40000000
)

// Probe is the namespaces probe.
type Probe struct{}

var _ probes.Probe = Probe{}

// Op names, registered by the suite through Ops.
const (
	opNoop  = "namespaces.noop"
	opMount = "namespaces.mount"
	// opMounts mounts several filesystems in turn: "fstype target ...".
	opMounts = "namespaces.mounts"
)

// Codes of the namespaces probe.
var (
	CodeNoUserns = probes.Code{Code: "KP-NS-001", Severity: probes.Warn,
		Title:   "user namespaces cannot be created and kprobe does not run as root",
		Meaning: "Rootless Kubernetes (k3s --rootless, rootlesskit, usernetes) starts by creating a user namespace; without one and without root, no container runtime can start here.",
		Fix:     "run as root, or allow unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000 (on the host; for a Docker sandbox also docker run --security-opt seccomp=unconfined)"}
	CodeNoMapRoot = probes.Code{Code: "KP-NS-002", Severity: probes.Warn,
		Title:   "a user namespace can be created but root cannot be mapped in it",
		Meaning: "Writing uid_map \"0 <uid> 1\" is refused (EPERM): since Linux 5.12 mapping root needs CAP_SETFCAP, which rootless runc containers drop. rootlesskit and runc in rootless mode need root mapped.",
		Fix:     "give the sandbox CAP_SETFCAP (docker/podman run --cap-add=SETFCAP; runc: add CAP_SETFCAP to process.capabilities in config.json), or run as real root"}
	CodeNoMountNS = probes.Code{Code: "KP-NS-003", Severity: probes.Block,
		Title:   "no mount namespace in which a filesystem can be mounted",
		Meaning: "Neither a plain mount namespace nor one inside a new user namespace can be created and used to mount a tmpfs: runc cannot set up any container root, so no pod can start. Only a control plane without an agent can run here.",
		Fix:     "start the sandbox with docker run --privileged (or --cap-add=SYS_ADMIN --security-opt seccomp=unconfined); otherwise kprobe launch runs pods as processes (TP) or the control plane only (T3)"}
	CodeRootlessOnly = probes.Code{Code: "KP-NS-004", Severity: probes.Warn,
		Title:   "mount namespaces work only inside a new user namespace",
		Meaning: "Without CAP_SYS_ADMIN (or under a seccomp filter) mounts are refused in a plain mount namespace but allowed in a child user namespace: containers can run only in rootless mode.",
		Fix:     "run kprobe as root of a user namespace (unshare --user --map-root-user --mount --pid --fork), where kprobe launch sets the kubelet's KubeletInUserNamespace feature gate itself; otherwise it runs pods as processes (TP)"}
	CodeNoProc = probes.Code{Code: "KP-NS-005", Severity: probes.Block,
		Title:   "proc cannot be mounted in a new pid namespace",
		Meaning: "runc mounts a fresh /proc in every container. The kernel refuses it (EPERM) inside a user namespace when the sandbox's own /proc has masked paths (mount_too_revealing), and without CAP_SYS_ADMIN outside one, so every container start fails.",
		Fix:     "start the sandbox with unmasked /proc: docker run --security-opt systempaths=unconfined (podman: --security-opt unmask=ALL), or --privileged"}
)

// Fact keys.
const (
	factUser    = "ns.user"
	factMapRoot = "ns.user_map_root"
)

// nsKind is one namespace type under test.
type nsKind struct {
	name string // "mount", "pid", ...
	flag uintptr
}

var kinds = []nsKind{
	{"mount", cloneNewNS},
	{"pid", cloneNewPID},
	{"net", cloneNewNet},
	{"ipc", cloneNewIPC},
	{"uts", cloneNewUTS},
	{"cgroup", cloneNewCgroup},
}

// fsKind is one filesystem mounted in new namespaces, with the extra
// namespace the kernel requires for it inside a user namespace: proc needs
// the pid namespace to be owned by the caller's user namespace, sysfs the
// network namespace, cgroup2 the cgroup namespace.
type fsKind struct {
	fstype string
	extra  uintptr
}

var filesystems = []fsKind{
	{"tmpfs", 0},
	{"proc", cloneNewPID},
	{"sysfs", cloneNewNet},
	{"cgroup2", cloneNewCgroup},
}

func (Probe) ID() string            { return "namespaces" }
func (Probe) Domain() probes.Domain { return probes.DomainNamespaces }
func (Probe) Mode() probes.Mode     { return probes.Active }

// SharesChild implements probes.ChildSharer: every mount is made in a
// grandchild's own namespace, and the child itself only creates and
// removes the mount points in its temp dir.
func (Probe) SharesChild() {}
func (Probe) Codes() []probes.Code {
	return []probes.Code{CodeNoUserns, CodeNoMapRoot, CodeNoMountNS, CodeRootlessOnly, CodeNoProc}
}

func (Probe) Facts() []probes.FactSpec {
	specs := []probes.FactSpec{
		{Key: factUser, Type: probes.TypeTri, Doc: "clone(CLONE_NEWUSER) works, no uid map written"},
		{Key: factMapRoot, Type: probes.TypeTri, Doc: "in a new user namespace, uid_map \"0 <own uid> 1\" can be written (needs CAP_SETFCAP since Linux 5.12)"},
	}
	for _, k := range kinds {
		specs = append(specs, probes.FactSpec{Key: "ns." + k.name, Type: probes.TypeTri,
			Doc: fmt.Sprintf("a new %s namespace can be created without a new user namespace", k.name)})
	}
	for _, k := range kinds {
		specs = append(specs, probes.FactSpec{Key: "ns.userns_" + k.name, Type: probes.TypeTri,
			Doc: fmt.Sprintf("a new %s namespace can be created together with a new user namespace mapping root to our uid", k.name)})
	}
	for _, f := range filesystems {
		doc := fmt.Sprintf("%s can be mounted in new %s namespaces without a new user namespace", f.fstype, flagNames(cloneNewNS|f.extra))
		if f.extra != 0 {
			doc += " (or in a new mount namespace alone when " + flagNames(f.extra) + " is refused)"
		}
		specs = append(specs, probes.FactSpec{Key: "ns.mount_" + f.fstype, Type: probes.TypeTri, Doc: doc})
	}
	for _, f := range filesystems {
		specs = append(specs, probes.FactSpec{Key: "ns.userns_mount_" + f.fstype, Type: probes.TypeTri,
			Doc: fmt.Sprintf("%s can be mounted in new %s namespaces with root mapped", f.fstype, flagNames(cloneNewUser|cloneNewNS|f.extra))})
	}
	return specs
}

// trial is one spawn: clone flags, whether root is mapped in the new user
// namespace, and an optional filesystem to mount.
type trial struct {
	// cloneKey is the fact the clone's success or failure answers.
	cloneKey string
	// implies are facts a successful clone also proves: a clone of
	// CLONE_NEWNS|CLONE_NEWPID shows that a pid namespace can be made.
	implies []string
	// mountKey is the fact the mount answers.
	mountKey string
	flags    uintptr
	mapRoot  bool
	fstype   string
	// fallback flags for a mount trial without a user namespace whose
	// clone was refused: as real root, proc, sysfs and cgroup2 mount
	// without the extra namespace.
	fallback uintptr
	// unfolded is this trial without the namespaces folded into it (see
	// folded); it runs in the second round unless this one mounted.
	unfolded *trial
}

// folded are the namespaces with no filesystem of their own: their clones
// ride on the tmpfs trials instead of clone-only spawns of their own.
var folded = []nsKind{{"ipc", cloneNewIPC}, {"uts", cloneNewUTS}}

// fold adds the folded namespaces to a tmpfs trial: its successful clone
// also proves them (prefix "ns." or "ns.userns_"). Should the fold fail
// the clone or the mount, the trial as it was runs again (unfolded), and
// the separate trials answer the folded namespaces, so that every fact is
// what spawns of their own would give.
func fold(t trial, prefix string) trial {
	f := t
	f.unfolded = &t
	f.implies = append([]string(nil), t.implies...)
	for _, k := range folded {
		f.flags |= k.flag
		f.implies = append(f.implies, prefix+k.name)
	}
	return f
}

// trials lists the spawns of the first round, run concurrently: the mount
// trials, whose clones answer the namespace facts when they succeed (the
// tmpfs ones also for ipc and uts, folded in).
func trials() []trial {
	var ts []trial
	for _, f := range filesystems {
		extra := ""
		for _, k := range kinds {
			if k.flag == f.extra {
				extra = k.name
			}
		}
		t := trial{mountKey: "ns.mount_" + f.fstype, flags: cloneNewNS | f.extra, fstype: f.fstype}
		u := trial{mountKey: "ns.userns_mount_" + f.fstype, flags: cloneNewUser | cloneNewNS | f.extra,
			mapRoot: true, fstype: f.fstype, implies: []string{factUser, factMapRoot}}
		if extra == "" {
			t.cloneKey, u.cloneKey = "ns.mount", "ns.userns_mount"
			t, u = fold(t, "ns."), fold(u, "ns.userns_")
		} else {
			t.implies = []string{"ns.mount", "ns." + extra}
			u.implies = append(u.implies, "ns.userns_mount", "ns.userns_"+extra)
			t.fallback = cloneNewNS
		}
		ts = append(ts, t, u)
	}
	return ts
}

// separate lists the clone-only trials of the facts the first round may
// leave open: they run only when no first-round clone proved the fact.
func separate() []trial {
	ts := []trial{
		{cloneKey: factUser, flags: cloneNewUser},
		{cloneKey: factMapRoot, flags: cloneNewUser, mapRoot: true},
	}
	for _, k := range kinds {
		if k.flag == cloneNewNS {
			continue // every mount trial's clone answers it
		}
		ts = append(ts,
			trial{cloneKey: "ns." + k.name, flags: k.flag},
			trial{cloneKey: "ns.userns_" + k.name, flags: cloneNewUser | k.flag, mapRoot: true})
	}
	return ts
}

// outcome is what a spawn returned: the op's line, or the error of the
// clone (or of the re-exec, which the caller cannot tell apart).
type outcome struct {
	line string
	err  error
}

// cloneTri judges a spawn error: nil is Yes; the errnos clone(2) and the
// uid_map write return for "not allowed here" are No; anything else (a
// timeout, an exec failure, ENOMEM) is Unknown.
func cloneTri(err error) probes.Tri {
	if err == nil {
		return probes.Yes
	}
	for _, e := range []syscall.Errno{syscall.EPERM, syscall.EINVAL, syscall.ENOSPC, syscall.EUSERS, syscall.ENOSYS} {
		if isErrno(err, e) {
			return probes.No
		}
	}
	return probes.Unknown
}

func isErrno(err error, e syscall.Errno) bool { return err != nil && errors.Is(err, e) }

// MountResult is the parsed line of the mount op: "ok", "ok umount
// EBUSY" (mounted, but the unmount failed) or "fail EPERM".
type MountResult struct {
	Mounted     bool
	Errno       string // of the failed mount
	UmountErrno string // of a failed unmount after a successful mount
}

// ParseMountLine parses the mount op's output line.
func ParseMountLine(line string) (MountResult, error) {
	f := strings.Fields(line)
	switch {
	case len(f) == 1 && f[0] == "ok":
		return MountResult{Mounted: true}, nil
	case len(f) == 3 && f[0] == "ok" && f[1] == "umount":
		return MountResult{Mounted: true, UmountErrno: f[2]}, nil
	case len(f) == 2 && f[0] == "fail":
		return MountResult{Errno: f[1]}, nil
	}
	return MountResult{}, fmt.Errorf("unexpected mount op output %q", line)
}

// mountTri judges a mount trial: a refused clone means the namespaces, and
// so the mount, are not available (No); an op that ran says whether the
// mount worked.
func mountTri(oc outcome) (probes.Tri, string) {
	if oc.err != nil {
		t := cloneTri(oc.err)
		if t == probes.Yes {
			t = probes.Unknown
		}
		return t, probes.Errno(oc.err)
	}
	r, err := ParseMountLine(oc.line)
	if err != nil {
		return probes.Unknown, err.Error()
	}
	if r.Mounted {
		return probes.Yes, ""
	}
	return probes.No, r.Errno
}

// flagNames renders clone flags as "CLONE_NEWUSER|CLONE_NEWNS".
func flagNames(flags uintptr) string {
	names := []struct {
		f uintptr
		n string
	}{
		{cloneNewUser, "CLONE_NEWUSER"}, {cloneNewNS, "CLONE_NEWNS"},
		{cloneNewPID, "CLONE_NEWPID"}, {cloneNewNet, "CLONE_NEWNET"},
		{cloneNewIPC, "CLONE_NEWIPC"}, {cloneNewUTS, "CLONE_NEWUTS"},
		{cloneNewCgroup, "CLONE_NEWCGROUP"},
	}
	var out []string
	for _, x := range names {
		if flags&x.f != 0 {
			out = append(out, x.n)
		}
	}
	return strings.Join(out, "|")
}

// source names a trial for evidence.
func (t trial) source() string {
	s := "clone(" + flagNames(t.flags) + ")"
	if t.mapRoot {
		s += " uid_map \"0 <uid> 1\""
	}
	if t.fstype != "" {
		s += " mount " + t.fstype
	}
	return s
}

// failure is why a fact is not Yes: its evidence and the spawn error.
type failure struct {
	ev  probes.Evidence
	err error
}

// record turns the outcomes of every trial, in order, into facts and
// evidence, and returns the evidence of each fact that is not Yes. A fact
// proved by any clone is Yes; a retried mount trial's outcome replaces the
// first one's.
func record(o *probes.Observation, ts []trial, res []outcome) map[string]failure {
	fails := map[string]failure{}
	set := func(key string, tri probes.Tri, fl failure) {
		if o.Facts.Tri(key) == probes.Yes {
			return
		}
		o.Set(key, tri)
		if tri == probes.Yes {
			delete(fails, key)
		} else {
			fails[key] = fl
		}
	}
	for i, t := range ts {
		oc := res[i]
		ev := probes.Evidence{Source: t.source(), Excerpt: oc.line, Errno: probes.Errno(oc.err)}
		if t.mountKey != "" {
			tri, errno := mountTri(oc)
			if oc.err == nil && tri != probes.Yes {
				ev.Errno = errno
			}
			o.Set(t.mountKey, tri)
			if tri == probes.Yes {
				delete(fails, t.mountKey)
			} else {
				fails[t.mountKey] = failure{ev: ev, err: oc.err}
			}
		}
		o.Evidence = append(o.Evidence, ev)
		if t.cloneKey != "" {
			set(t.cloneKey, cloneTri(oc.err), failure{ev: ev, err: oc.err})
		}
		if oc.err == nil {
			for _, k := range t.implies {
				set(k, probes.Yes, failure{})
			}
		}
	}
	return fails
}

// summary says what can be created and mounted: "all 7 namespaces, with
// and without a user namespace; tmpfs proc sysfs cgroup2 mountable", or
// "user ns ok; plain: all refused; in user ns: all ok; tmpfs proc cgroup2
// in user ns only, sysfs not mountable".
func summary(f probes.Facts) string {
	word := map[probes.Tri]string{probes.Yes: "ok", probes.No: "refused", probes.Unknown: "unknown"}
	// group says "all ok" when every kind had the same answer.
	group := func(prefix string) string {
		var t probes.Tally
		for _, k := range kinds {
			t.Add(k.name, word[f.Tri(prefix+k.name)])
		}
		if t.Outcomes() == 1 {
			return "all " + word[f.Tri(prefix+kinds[0].name)]
		}
		return t.String()
	}
	all := f.Tri(factUser) == probes.Yes && f.Tri(factMapRoot) == probes.Yes
	for _, k := range kinds {
		all = all && f.Tri("ns."+k.name) == probes.Yes && f.Tri("ns.userns_"+k.name) == probes.Yes
	}
	s := fmt.Sprintf("all %d namespaces, with and without a user namespace", len(kinds)+1)
	if !all {
		s = "user ns " + word[f.Tri(factUser)]
		if f.Tri(factUser) == probes.Yes && f.Tri(factMapRoot) != probes.Yes {
			s += ", root map " + word[f.Tri(factMapRoot)]
		}
		s += "; plain: " + group("ns.")
		if f.Tri(factUser) == probes.Yes {
			s += "; in user ns: " + group("ns.userns_")
		}
	}
	var mounts probes.Tally
	for _, fs := range filesystems {
		p, u := f.Tri("ns.mount_"+fs.fstype), f.Tri("ns.userns_mount_"+fs.fstype)
		switch {
		case p == probes.Yes && u == probes.Yes:
			mounts.Add(fs.fstype, "mountable")
		case p == probes.Yes:
			mounts.Add(fs.fstype, "without user ns only")
		case u == probes.Yes:
			mounts.Add(fs.fstype, "in user ns only")
		case p == probes.No && u == probes.No:
			mounts.Add(fs.fstype, "not mountable")
		default:
			mounts.Add(fs.fstype, "mount unknown")
		}
	}
	m := mounts.String()
	if mounts.Outcomes() == 1 && strings.HasSuffix(m, " not mountable") {
		m = "nothing mountable"
	}
	return s + "; " + m
}

// judge sets the summary and derives the findings from the facts.
func judge(o *probes.Observation, uid int, fails map[string]failure) {
	f := o.Facts
	o.Summary = summary(f)
	if f.Tri(factUser) == probes.No && uid != 0 {
		fl := fails[factUser]
		if isErrno(fl.err, syscall.ENOSPC) {
			o.FindFix(CodeNoUserns, fmt.Sprintf("user namespaces are exhausted or disabled (ENOSPC) and kprobe runs as uid %d", uid), fl.ev,
				"sysctl -w user.max_user_namespaces=15000 (on the host)")
		} else {
			o.Find(CodeNoUserns, fmt.Sprintf("clone(CLONE_NEWUSER) is refused and kprobe runs as uid %d", uid), fl.ev)
		}
	}
	if f.Tri(factUser) == probes.Yes && f.Tri(factMapRoot) == probes.No {
		o.Find(CodeNoMapRoot, fmt.Sprintf("a user namespace can be created, but writing uid_map \"0 %d 1\" is refused", uid), fails[factMapRoot].ev)
	}
	plain, userns := f.Tri("ns.mount_tmpfs"), f.Tri("ns.userns_mount_tmpfs")
	switch {
	case plain == probes.No && userns == probes.No:
		why := "mounting tmpfs in a new mount namespace is refused"
		if f.Tri("ns.mount") == probes.No {
			why = "clone(CLONE_NEWNS) is refused"
		}
		switch {
		case f.Tri(factUser) == probes.No:
			why += ", and so is clone(CLONE_NEWUSER)"
		case f.Tri(factMapRoot) == probes.No:
			why += ", and root cannot be mapped in a new user namespace"
		case f.Tri("ns.userns_mount") == probes.Yes:
			why += ", and mounting tmpfs inside a new user namespace is refused too"
		default:
			why += ", with or without a new user namespace"
		}
		o.Find(CodeNoMountNS, why, fails["ns.mount_tmpfs"].ev)
	case plain == probes.No && userns == probes.Yes:
		o.Find(CodeRootlessOnly, "tmpfs can be mounted only inside a new user namespace", fails["ns.mount_tmpfs"].ev)
	}
	if (plain == probes.Yes || userns == probes.Yes) &&
		f.Tri("ns.mount_proc") == probes.No && f.Tri("ns.userns_mount_proc") == probes.No {
		key := "ns.userns_mount_proc"
		if userns != probes.Yes {
			key = "ns.mount_proc"
		}
		o.Find(CodeNoProc, "mounting proc in a new pid namespace is refused, with or without a new user namespace", fails[key].ev)
	}
}

// spawnFunc runs one trial and returns its outcome.
type spawnFunc func(context.Context, trial) outcome

// manyFunc runs mount trials of the same clone flags and root mapping in
// one spawn, mounting each filesystem in turn, and returns an outcome per
// trial. Processes are what a trial costs where they are expensive
// (gVisor); a clone's success or errno and a mount's result do not depend
// on the other mounts, each undone before the next.
type manyFunc func(context.Context, []trial) []outcome

// runAll runs trials concurrently; with many, the mount trials that share
// their clone flags and root mapping share one spawn.
func runAll(ctx context.Context, ts []trial, spawn spawnFunc, many manyFunc) []outcome {
	res := make([]outcome, len(ts))
	type key struct {
		flags   uintptr
		mapRoot bool
	}
	var order [][]int   // the trials of each spawn
	at := map[key]int{} // a group's index in order
	for i, t := range ts {
		if many == nil || t.fstype == "" {
			order = append(order, []int{i})
			continue
		}
		k := key{t.flags, t.mapRoot}
		if j, ok := at[k]; ok {
			order[j] = append(order[j], i)
			continue
		}
		at[k] = len(order)
		order = append(order, []int{i})
	}
	var wg sync.WaitGroup
	for _, idx := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if len(idx) == 1 {
				res[idx[0]] = spawn(ctx, ts[idx[0]])
				return
			}
			group := make([]trial, len(idx))
			for j, i := range idx {
				group[j] = ts[i]
			}
			for j, oc := range many(ctx, group) {
				res[idx[j]] = oc
			}
		}()
	}
	wg.Wait()
	return res
}

// runTrials is the platform-independent part of Run. The first round runs
// trials(); the second runs the separate trials of the facts no clone of
// the first proved, the unfolded form of each folded trial that did not
// mount, and retries with the mount namespace alone the mount trials
// whose extra namespace was refused. It returns every trial run, in
// order, with its outcome.
func runTrials(ctx context.Context, spawn spawnFunc, many manyFunc) ([]trial, []outcome) {
	ts := trials()
	res := runAll(ctx, ts, spawn, many)
	proved := map[string]bool{}
	var again []trial
	for i, t := range ts {
		if t.unfolded != nil {
			if tri, _ := mountTri(res[i]); tri != probes.Yes {
				again = append(again, *t.unfolded)
			}
		}
		if res[i].err == nil {
			proved[t.cloneKey] = true
			for _, k := range t.implies {
				proved[k] = true
			}
		} else if t.fallback != 0 && cloneTri(res[i].err) == probes.No {
			r := t
			r.flags, r.fallback, r.implies = t.fallback, 0, nil
			again = append(again, r)
		}
	}
	for _, t := range separate() {
		if !proved[t.cloneKey] {
			again = append(again, t)
		}
	}
	return append(ts, again...), append(res, runAll(ctx, again, spawn, many)...)
}
