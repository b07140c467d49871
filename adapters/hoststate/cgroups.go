package hoststate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kprobe/kprobe/adapters/runspec"
)

// NestedCgroupRoots are the journaled roots stop may remove: only clean
// absolute paths ending in runspec.NestedCgroupRootName (a hand-edited
// journal names nothing of ours).
func (s *Snapshot) NestedCgroupRoots() []string {
	var out []string
	for _, r := range s.CgroupRoots {
		if nestedRootOK(r) {
			out = append(out, r)
		}
	}
	return out
}

// MakeNestedCgroupRoot journals root (Snapshot.CgroupRoots), saves the
// journal with save, then makes root: stop then removes it and whatever
// the kubelet made below it, even if launch dies in between.
func (s *Snapshot) MakeNestedCgroupRoot(root string, save func() error) error {
	if !nestedRootOK(root) {
		return fmt.Errorf("cgroup root %q: want an absolute clean path ending in /%s", root, runspec.NestedCgroupRootName)
	}
	s.CgroupRoots = append(s.CgroupRoots, root)
	if err := save(); err != nil {
		return err
	}
	return MakeCgroupRoot(root)
}

func nestedRootOK(root string) bool {
	return path.IsAbs(root) && path.Clean(root) == root && path.Base(root) == runspec.NestedCgroupRootName &&
		path.Dir(root) != "/" && !strings.ContainsAny(root, "\n*?[\\")
}

// MakeCgroupRoot makes a kubelet's cgroup root in every cgroup hierarchy
// mounted under /sys/fs/cgroup whose parent cgroup exists there (the
// kubelet refuses a root that is missing in a hierarchy it uses), with
// cpuset's cpus and mems copied from the parent (a new v1 cpuset has
// none). A worker's root (upstream.NodeCgroupRoot) sits at the top, a
// nested one below the own cgroup.
func MakeCgroupRoot(root string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	made := 0
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if !ok || len(pf) < 5 || len(qf) < 1 || (qf[0] != "cgroup" && qf[0] != "cgroup2") {
			continue
		}
		mp := pf[4]
		if mp != "/sys/fs/cgroup" && !strings.HasPrefix(mp, "/sys/fs/cgroup/") {
			continue
		}
		dir := filepath.Join(mp, root)
		parent := filepath.Dir(dir)
		if _, err := os.Stat(parent); err != nil {
			continue // the own cgroup is elsewhere in this hierarchy
		}
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		made++
		for _, k := range []string{"cpuset.cpus", "cpuset.mems"} {
			cur, err := os.ReadFile(filepath.Join(dir, k))
			if err != nil || len(bytes.TrimSpace(cur)) > 0 {
				continue
			}
			if v, err := os.ReadFile(filepath.Join(parent, k)); err == nil {
				if err := os.WriteFile(filepath.Join(dir, k), v, 0o644); err != nil {
					return fmt.Errorf("%s: %w", filepath.Join(dir, k), err)
				}
			}
		}
	}
	if made == 0 {
		return fmt.Errorf("no cgroup hierarchy under /sys/fs/cgroup has %s", path.Dir(root))
	}
	return nil
}

// nestedCgroups lists the journaled nested roots in every hierarchy.
func nestedCgroups(roots []string) []string {
	var out []string
	for _, r := range roots {
		if !nestedRootOK(r) {
			continue // a hand-edited journal names nothing of ours
		}
		a, _ := filepath.Glob("/sys/fs/cgroup/*" + r)
		b, _ := filepath.Glob("/sys/fs/cgroup" + r)
		out = append(append(out, a...), b...)
	}
	return out
}
