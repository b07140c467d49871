//go:build linux

package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes"
)

// OwnDirs returns the directory of the running process's cgroup in every
// mounted hierarchy where it can be located (v1 controllers, named v1
// hierarchies, cgroup2). A probe child starts in these cgroups, so what it
// creates relative to its own cgroup lies directly below them.
func OwnDirs(env *probes.Env) []string {
	v, err := look(env, probes.NewObservation())
	if err != nil || !v.membersOK {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, m := range topMounts(v.mounts) {
		var p string
		var ok bool
		switch {
		case m.V2():
			p, ok = V2Path(v.members)
		case m.Name != "":
			p, ok = V1Path(v.members, "name="+m.Name)
		case len(m.Controllers) > 0:
			p, ok = V1Path(v.members, m.Controllers[0])
		}
		if !ok || strings.HasPrefix(m.Root, "/..") {
			continue
		}
		d := CgroupDir(m, p)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// SweepNamed removes every cgroup directly below the process's own
// cgroups whose name match accepts, with the cgroups under it, after
// killing the processes in them. It returns the directories removed.
func SweepNamed(env *probes.Env, match func(name string) bool) ([]string, error) {
	var removed []string
	var errs []error
	for _, parent := range OwnDirs(env) {
		ents, err := os.ReadDir(parent)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() || !match(e.Name()) {
				continue
			}
			d := path.Join(parent, e.Name())
			if err := removeTree(d); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, "cgroup "+d)
		}
	}
	return removed, errors.Join(errs...)
}

// removeTree kills what runs in the cgroup dir and below it and removes
// the cgroups, deepest first. The kernel keeps a cgroup busy for a moment
// after its last process is killed, so rmdir is retried for up to a second.
func removeTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(path.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	for i := 0; i < 100; i++ {
		killMembers(dir)
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("rmdir %s: %w", dir, err)
}

// killMembers sends SIGKILL to every process listed in dir/cgroup.procs:
// a cgroup named after a probe child holds only what that child started.
func killMembers(dir string) {
	b, err := os.ReadFile(path.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range bytes.Fields(b) {
		if pid, err := strconv.Atoi(string(f)); err == nil && pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// Sweep implements probes.Sweeper: the kprobe-probe-PID cgroups of a
// child that did not get to remove them.
func (WriteProbe) Sweep(childPID int, env *probes.Env) ([]string, error) {
	name := childPrefix + strconv.Itoa(childPID)
	return SweepNamed(env, func(n string) bool { return n == name })
}
