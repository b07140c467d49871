//go:build linux

package shims

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	pcgroups "github.com/kprobe/kprobe/probes/cgroups"
)

// cgroup v2's no-internal-process rule: a cgroup other than the real root
// that has processes cannot enable controllers for its children ("write
// cgroup.subtree_control: device or resource busy", and the kubelet's
// "cannot enter cgroupv2 ... it is in an invalid state"). Inside a
// container with a cgroup namespace every process sits in the namespace's
// root. The fix (k3d K3D_FIX_CGROUPV2, moby hack/dind, k3s as PID 1):
// move them into a child "init" and enable the controllers.

// EvacuationChild is the cgroup the processes move into.
const EvacuationChild = "init"

func cgroupRoot(env *Env) (string, error) {
	root := env.CgroupRoot
	if root == "" {
		root = "/sys/fs/cgroup"
	}
	var s unix.Statfs_t
	if err := unix.Statfs(root, &s); err != nil {
		return "", fmt.Errorf("%s: %v: %w", root, err, ErrNotApplicable)
	}
	if s.Type != unix.CGROUP2_SUPER_MAGIC {
		return "", fmt.Errorf("%s is not cgroup v2 (fs type 0x%x): %w", root, s.Type, ErrNotApplicable)
	}
	return root, nil
}

func readPids(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

func applyCgroupEvacuate(ctx context.Context, env *Env, a *Applied) error {
	root, err := cgroupRoot(env)
	if err != nil {
		return err
	}
	ctrls, err := pcgroups.ReadList(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return err
	}
	enabled, err := pcgroups.ReadList(filepath.Join(root, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	on := map[string]bool{}
	for _, c := range enabled {
		on[c] = true
	}
	var toEnable []string
	for _, c := range ctrls {
		if !on[c] {
			toEnable = append(toEnable, c)
		}
	}
	pids, err := readPids(root)
	if err != nil {
		return err
	}
	if len(pids) > 0 && len(enabled) > 0 && threadRoot(root) {
		// A populated namespace root where only the threaded controllers
		// (cpu, cpuset, pids) could be enabled, one by one, as runc's and
		// the kubelet's cgroup manager try every controller: the root is
		// a thread root ("domain threaded"), every child of it "domain
		// invalid", no process can move into one and no domain
		// controller be enabled (EOPNOTSUPP). Turned off first, and on
		// again by undo.
		off, ferr := disableControllers(root, enabled)
		if len(off) > 0 {
			a.add(Step{Op: "cgroup-subtree-off", Path: root, Controllers: off})
			a.note("turned off %s in %s/cgroup.subtree_control: with processes in it they made it a thread root", strings.Join(off, " "), root)
		}
		if ferr != nil {
			return ferr
		}
		toEnable = ctrls
	}
	if len(pids) == 0 && len(toEnable) == 0 {
		a.note("%s holds no process and enables every controller already", root)
		a.output("cgroup", filepath.Join(root, EvacuationChild))
		return nil
	}
	child := filepath.Join(root, EvacuationChild)
	switch err := os.Mkdir(child, 0o755); {
	case err == nil:
		created(a, "mkdir", child, "")
	case errors.Is(err, os.ErrExist):
		a.note("%s exists already: joining it", child)
	default:
		return err
	}
	moved, skipped, err := evacuate(ctx, root, child)
	if len(moved) > 0 {
		a.add(Step{Op: "cgroup-procs", Path: child, Target: root, Pids: moved, All: a.createdLast(child)})
	}
	if err != nil {
		return err
	}
	a.note("moved %d processes from %s to %s", len(moved), root, child)
	if len(skipped) > 0 {
		a.note("left %d processes that cannot move (kernel threads): %v", len(skipped), skipped)
	}
	if len(toEnable) > 0 {
		done, failed := enableControllers(root, toEnable)
		if len(done) > 0 {
			a.add(Step{Op: "cgroup-subtree", Path: root, Controllers: done})
			a.note("enabled %s in %s/cgroup.subtree_control", strings.Join(done, " "), root)
		}
		if len(done) == 0 {
			return fmt.Errorf("enable controllers %v in %s: %s", toEnable, root, strings.Join(failed, "; "))
		}
		if len(failed) > 0 {
			a.note("could not enable: %s", strings.Join(failed, "; "))
		}
	}
	a.output("cgroup", child)
	return nil
}

// createdLast reports whether the last step created p (so every process in
// it is the shim's to move back).
func (a *Applied) createdLast(p string) bool {
	return len(a.Steps) > 0 && a.Steps[len(a.Steps)-1].Op == "mkdir" && a.Steps[len(a.Steps)-1].Path == p
}

// evacuate moves every process of root into child, again until root is
// empty (a process may fork meanwhile). Processes that cannot move
// (EINVAL: kernel threads in the real root) are skipped.
func evacuate(ctx context.Context, root, child string) (moved, skipped []int, err error) {
	skip := map[int]bool{}
	for round := 0; round < 10; round++ {
		pids, err := readPids(root)
		if err != nil {
			return moved, skipped, err
		}
		n := 0
		for _, pid := range pids {
			if skip[pid] {
				continue
			}
			if ctx.Err() != nil {
				return moved, skipped, ctx.Err()
			}
			n++
			err := pcgroups.WriteFile(filepath.Join(child, "cgroup.procs"), strconv.Itoa(pid))
			switch {
			case err == nil:
				moved = append(moved, pid)
			case errors.Is(err, unix.ESRCH):
				// exited meanwhile
			case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
				skip[pid] = true
				skipped = append(skipped, pid)
			default:
				return moved, skipped, fmt.Errorf("move pid %d to %s: %w", pid, child, err)
			}
		}
		if n == 0 {
			return moved, skipped, nil
		}
	}
	return moved, skipped, fmt.Errorf("%s still has processes after 10 rounds", root)
}

func enableControllers(root string, cs []string) (done, failed []string) {
	p := filepath.Join(root, "cgroup.subtree_control")
	if pcgroups.WriteFile(p, "+"+strings.Join(cs, " +")) == nil {
		return cs, nil
	}
	for _, c := range cs {
		if err := pcgroups.WriteFile(p, "+"+c); err != nil {
			failed = append(failed, c+": "+errnoOf(err).Error())
			continue
		}
		done = append(done, c)
	}
	return done, failed
}

// threadRoot reports whether dir is a thread root: cgroup.type says
// "domain threaded" (the real root has no cgroup.type; a namespace's root
// has).
func threadRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.type"))
	return err == nil && strings.TrimSpace(string(b)) == "domain threaded"
}

// disableControllers turns cs off in dir's cgroup.subtree_control, last
// first; off are those it turned off.
func disableControllers(dir string, cs []string) (off []string, err error) {
	p := filepath.Join(dir, "cgroup.subtree_control")
	for i := len(cs) - 1; i >= 0; i-- {
		if werr := pcgroups.WriteFile(p, "-"+cs[i]); werr != nil {
			return off, fmt.Errorf("disable %s in %s: %w", cs[i], dir, errnoOf(werr))
		}
		off = append(off, cs[i])
	}
	return off, nil
}

// undoSubtreeOff enables again what cgroup-subtree-off turned off.
func undoSubtreeOff(st Step) error {
	p := filepath.Join(st.Path, "cgroup.subtree_control")
	var errs []error
	for i := len(st.Controllers) - 1; i >= 0; i-- {
		c := st.Controllers[i]
		if err := pcgroups.WriteFile(p, "+"+c); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("enable %s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

func undoSubtree(st Step) error {
	p := filepath.Join(st.Path, "cgroup.subtree_control")
	var errs []error
	for i := len(st.Controllers) - 1; i >= 0; i-- {
		c := st.Controllers[i]
		if err := pcgroups.WriteFile(p, "-"+c); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("disable %s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

// undoCgroupProcs moves processes back from st.Path to st.Target: every
// process there when the shim created the cgroup (All), else those it
// moved that are still there.
func undoCgroupProcs(st Step) error {
	pids, err := readPids(st.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.All {
		mine := map[int]bool{}
		for _, p := range st.Pids {
			mine[p] = true
		}
		var keep []int
		for _, p := range pids {
			if mine[p] {
				keep = append(keep, p)
			}
		}
		pids = keep
	}
	var errs []error
	for _, pid := range pids {
		err := pcgroups.WriteFile(filepath.Join(st.Target, "cgroup.procs"), strconv.Itoa(pid))
		if err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("move pid %d back to %s: %w", pid, st.Target, err))
		}
	}
	if len(errs) > 3 {
		errs = append(errs[:3], fmt.Errorf("and %d more", len(errs)-3))
	}
	return errors.Join(errs...)
}
