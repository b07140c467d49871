//go:build linux

package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes"
)

// target is one hierarchy the probe writes to.
type target struct {
	name   string // "memory", "pids", "cpu" or "cgroup2"
	v2     bool
	parent string // the process's own cgroup directory
	exact  bool   // parent is the process's cgroup, not a stand-in
	dir    string // the child the probe creates
	mkdir  error
	made   bool
	join   probes.Tri
}

// staleAfter is how old a kprobe-probe-<pid> cgroup of a dead process must
// be before a later run removes it.
const staleAfter = 2 * time.Minute

func runWrite(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	v, err := look(env, o)
	if err != nil {
		return o, err
	}
	if v.layout == "none" {
		o.Note("/proc/self/mountinfo", "no cgroup hierarchy to write to", nil)
		o.Set("cgroups.writable", probes.No)
		o.Summary = "no cgroup hierarchy to write to"
		return o, nil
	}

	name := childPrefix + strconv.Itoa(os.Getpid())
	var targets []*target
	seen := map[string]bool{}
	for _, c := range []string{"memory", "pids", "cpu"} {
		m, ok := V1Mount(v.mounts, c)
		if !ok || seen[m.Mountpoint] {
			continue
		}
		seen[m.Mountpoint] = true
		p, ok := V1Path(v.members, c)
		if !ok {
			p = m.Root
		}
		dir, exact := ownDir(o, m, p)
		targets = append(targets, &target{name: c, parent: dir, exact: exact})
	}
	if v.hasV2 {
		p, ok := V2Path(v.members)
		if !ok {
			p = v.v2.Root
		}
		dir, exact := ownDir(o, v.v2, p)
		targets = append(targets, &target{name: "cgroup2", v2: true, parent: dir, exact: exact})
	}

	// Undo everything, in reverse order, whatever happens below.
	var undo []func()
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()

	for _, t := range targets {
		sweepStale(o, t.parent)
		t.dir = path.Join(t.parent, name)
		t.mkdir = unix.Mkdir(t.dir, 0o755)
		if errors.Is(t.mkdir, unix.EEXIST) {
			t.mkdir = nil // ours from a previous process with this pid
		}
		o.Note("mkdir "+t.dir, "", t.mkdir)
		if t.mkdir == nil {
			t.made = true
			undo = append(undo, func() { removeCgroup(o, t.dir) })
		}
	}

	joinAll(ctx, o, targets)

	subtree, evac := subtreeTrial(o, targets, &undo)
	o.Set("cgroups.subtree_control_writable", subtree)
	o.Set("cgroups.needs_evacuation", evac)

	var v1, rel1, relJoin []probes.Tri
	var v2 probes.Tri = probes.Unknown
	var firstDenied *target
	for _, t := range targets {
		mk := triOfWrite(t.mkdir)
		relevant := (v.layout == "v2") == t.v2
		if t.v2 {
			v2 = mk
		} else {
			v1 = append(v1, mk)
		}
		if relevant {
			rel1 = append(rel1, mk)
			if t.made {
				relJoin = append(relJoin, t.join)
			}
			if mk == probes.No && firstDenied == nil {
				firstDenied = t
			}
		}
	}
	if len(v1) > 0 {
		o.Set("cgroups.v1_writable", all(v1))
	}
	if v.hasV2 {
		o.Set("cgroups.v2_writable", v2)
	}
	writable := all(rel1)
	if writable == probes.Yes && slices.Contains(relJoin, probes.No) {
		writable = probes.No
	}
	o.Set("cgroups.writable", writable)
	o.Summary = writeSummary(targets, subtree, evac)

	if writable == probes.No {
		ev := probes.Evidence{Source: "mkdir", Excerpt: "cgroup.procs write denied"}
		if firstDenied != nil {
			ev = probes.Evidence{Source: "mkdir " + firstDenied.dir, Errno: probes.Errno(firstDenied.mkdir)}
		}
		o.Find(CodeNotWritable, "cannot create or join a child cgroup in the "+v.layout+" hierarchies the kubelet uses", ev)
	}
	if evac == probes.Yes && v.layout == "v2" {
		dir := v.v2Dir
		o.FindFix(CodeEvacuate, "processes live in "+dir+", so its cgroup.subtree_control cannot enable controllers",
			probes.Evidence{Source: "write " + dir + "/cgroup.subtree_control", Errno: "EBUSY"},
			fmt.Sprintf("mkdir -p %[1]s/init && xargs -rn1 < %[1]s/cgroup.procs > %[1]s/init/cgroup.procs && sed -e 's/ / +/g' -e 's/^/+/' < %[1]s/cgroup.controllers > %[1]s/cgroup.subtree_control", dir))
	}
	return o, nil
}

// writeSummary says what the trials did: "child cgroups (mkdir, join):
// memory pids cpu cgroup2 ok; subtree_control writable".
func writeSummary(targets []*target, subtree, evac probes.Tri) string {
	var tl probes.Tally
	for _, t := range targets {
		switch {
		case t.mkdir != nil:
			tl.Add(t.name, probes.Errno(t.mkdir))
		case t.join == probes.Yes:
			tl.Add(t.name, "ok")
		case t.join == probes.No:
			tl.Add(t.name, "created, join refused")
		default:
			tl.Add(t.name, "created, join unknown")
		}
	}
	s := "child cgroups (mkdir, join): " + tl.String()
	switch subtree {
	case probes.Yes:
		s += "; subtree_control writable"
	case probes.No:
		s += "; subtree_control not writable"
	}
	if evac == probes.Yes {
		s += " (processes must leave the cgroup first)"
	}
	return s
}

// ownDir is the directory of the process's cgroup under m. When it cannot
// be located (a cgroup namespace rooted below the mount, shown as a
// "/.." root, or a path that does not exist) the mount's own directory is
// used for the mkdir trial and exact is false.
func ownDir(o *probes.Observation, m Mount, cgPath string) (dir string, exact bool) {
	if strings.HasPrefix(m.Root, "/..") {
		o.Note(m.Mountpoint, "mount root "+m.Root+" lies above the cgroup namespace; using the mountpoint", nil)
		return m.Mountpoint, false
	}
	d := CgroupDir(m, cgPath)
	if _, err := os.Stat(d); err != nil {
		o.Note("stat "+d, "using "+m.Mountpoint+" instead", err)
		return m.Mountpoint, false
	}
	return d, true
}

// sweepStale removes empty kprobe-probe-<pid> cgroups of dead processes
// left by an earlier run that was killed before it could clean up.
func sweepStale(o *probes.Observation, parent string) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		pidText, ok := strings.CutPrefix(e.Name(), childPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < staleAfter {
			continue
		}
		d := path.Join(parent, e.Name())
		o.Note("rmdir "+d, "stale cgroup of an earlier run", unix.Rmdir(d))
	}
}

// removeCgroup removes a cgroup the probe made, retrying while the kernel
// still counts the exited grandchild in it.
func removeCgroup(o *probes.Observation, dir string) {
	var err error
	for i := 0; i < 100; i++ {
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			o.Note("rmdir "+dir, "", nil)
			return
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	o.Note("rmdir "+dir, "", err)
	o.FindFix(CodeLeftover, "cgroup "+dir+" could not be removed",
		probes.Evidence{Source: "rmdir " + dir, Errno: probes.Errno(err)}, "rmdir "+dir)
}

// joinAll moves a grandchild into every new cgroup and back.
func joinAll(ctx context.Context, o *probes.Observation, targets []*target) {
	var args []string
	var made []*target
	for _, t := range targets {
		t.join = probes.Unknown
		if t.made {
			args = append(args, t.dir, t.parent)
			made = append(made, t)
		}
	}
	if len(made) == 0 {
		return
	}
	out, err := probes.SpawnOp(ctx, nil, joinOp, args...)
	if err != nil {
		o.Note("spawn "+joinOp, "", err)
		return
	}
	res := strings.Fields(out)
	var joins []probes.Tri
	for i, t := range made {
		if i >= len(res) {
			break
		}
		in, back, _ := strings.Cut(res[i], "/")
		t.join = triOfWrite(probes.ErrFromText(okText(in)))
		if t.join == probes.Yes && back != "ok" {
			o.Note("move back from "+t.dir, "", probes.ErrFromText(back))
		}
		o.Note("write "+t.dir+"/cgroup.procs", "joined="+in+" back="+back, nil)
		joins = append(joins, t.join)
	}
	o.Set("cgroups.join", all(joins))
}

func okText(s string) string {
	if s == "ok" {
		return ""
	}
	return s
}

// subtreeTrial tries cgroup.subtree_control. It enables a controller the
// process's own cgroup2 cgroup offers but has not enabled (EBUSY there
// means processes must be evacuated first); when every offered controller
// is already enabled it tries the new, empty child instead. Every change is
// undone.
func subtreeTrial(o *probes.Observation, targets []*target, undo *[]func()) (subtree, evac probes.Tri) {
	var t2 *target
	for _, t := range targets {
		if t.v2 {
			t2 = t
		}
	}
	if t2 == nil {
		return probes.Unknown, probes.Unknown
	}
	if !t2.exact {
		// Not our cgroup: enabling controllers there proves nothing about
		// ours and would change someone else's.
		o.Note(t2.parent+"/cgroup.subtree_control", "not tried: the process's cgroup2 cgroup could not be located", nil)
		return probes.Unknown, probes.Unknown
	}
	avail, err1 := ReadList(t2.parent + "/cgroup.controllers")
	enabled, err2 := ReadList(t2.parent + "/cgroup.subtree_control")
	if err1 != nil || err2 != nil {
		o.Note(t2.parent+"/cgroup.controllers", "", errors.Join(err1, err2))
		return probes.Unknown, probes.Unknown
	}
	// A domain controller first: the threaded ones (pids, cpu, cpuset)
	// may be enabled with processes inside, so they do not test the
	// no-internal-process rule (in the zoo's vm-v2-cgns +pids passed and
	// the scan said no evacuation was needed, where the kubelet then
	// failed on it).
	var cand string
	for _, c := range append([]string{"memory", "io", "pids", "cpu"}, avail...) {
		if slices.Contains(avail, c) && !slices.Contains(enabled, c) {
			cand = c
			break
		}
	}
	if cand != "" {
		file := t2.parent + "/cgroup.subtree_control"
		err := WriteFile(file, "+"+cand)
		o.Note("write +"+cand+" > "+file, "", err)
		switch {
		case err == nil:
			*undo = append(*undo, func() { disable(o, file, cand) })
			return probes.Yes, probes.No
		case errors.Is(err, unix.EBUSY):
			// Permission passed; the no-internal-process rule refused.
			return probes.Yes, probes.Yes
		case errors.Is(err, unix.EOPNOTSUPP) && threadRootWithProcs(o, t2.parent):
			// The same rule one step on: threaded controllers (cpu,
			// cpuset, pids) enabled with processes inside, as runc's
			// cgroup manager leaves a container's cgroup namespace root,
			// made it a thread root, where no domain controller can be
			// enabled; the processes must move out (and those controllers
			// go off) first, which adapters/shims' cgroup-evacuate does.
			return probes.Yes, probes.Yes
		}
		return triOfWrite(err), probes.Unknown
	}
	if len(enabled) > 0 && t2.made {
		// The own cgroup already delegates controllers, so it holds no
		// process of its own (or is the root): nothing to evacuate.
		file := t2.dir + "/cgroup.subtree_control"
		err := WriteFile(file, "+"+enabled[0])
		o.Note("write +"+enabled[0]+" > "+file, "", err)
		if err == nil {
			c := enabled[0]
			*undo = append(*undo, func() { disable(o, file, c) })
		}
		return triOfWrite(err), probes.No
	}
	o.Note(t2.parent+"/cgroup.controllers", "no controller to enable: "+strings.Join(avail, " "), nil)
	return probes.Unknown, probes.Unknown
}

// threadRootWithProcs reports whether dir is a thread root ("domain
// threaded" in cgroup.type: the real root has no such file) that holds
// processes.
func threadRootWithProcs(o *probes.Observation, dir string) bool {
	typ, err := os.ReadFile(dir + "/cgroup.type")
	procs, perr := os.ReadFile(dir + "/cgroup.procs")
	o.Note(dir+"/cgroup.type", strings.TrimSpace(string(typ)), errors.Join(err, perr))
	return err == nil && perr == nil && strings.TrimSpace(string(typ)) == "domain threaded" && len(strings.Fields(string(procs))) > 0
}

func disable(o *probes.Observation, file, c string) {
	err := WriteFile(file, "-"+c)
	o.Note("write -"+c+" > "+file, "", err)
	if err != nil {
		o.FindFix(CodeLeftover, "controller "+c+" could not be disabled again in "+file,
			probes.Evidence{Source: "write " + file, Errno: probes.Errno(err)}, "echo -"+c+" > "+file)
	}
}

// ReadList reads a cgroup file of space-separated names
// (cgroup.controllers, cgroup.subtree_control).
func ReadList(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return ParseControllerList(string(b)), nil
}

// WriteFile writes s with one write(2) to an existing cgroup file, so the
// kernel's errno comes back.
func WriteFile(file, s string) error {
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(s)
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

// join is the grandchild op: for each (dir, back) pair it writes its own
// PID into dir/cgroup.procs, then into back/cgroup.procs. It prints one
// "in/back" token per pair, each "ok" or an errno name.
func join(args []string) (string, error) {
	if len(args)%2 != 0 {
		return "", fmt.Errorf("%s: want pairs of directories, got %d args", joinOp, len(args))
	}
	pid := strconv.Itoa(os.Getpid())
	var out []string
	for i := 0; i < len(args); i += 2 {
		in := WriteFile(args[i]+"/cgroup.procs", pid)
		back := "-"
		if in == nil {
			back = textOK(WriteFile(args[i+1]+"/cgroup.procs", pid))
		}
		out = append(out, textOK(in)+"/"+back)
	}
	return strings.Join(out, " "), nil
}

func textOK(err error) string {
	if err == nil {
		return "ok"
	}
	return strings.ReplaceAll(probes.ErrorText(err), " ", "_")
}
