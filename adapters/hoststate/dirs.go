package hoststate

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/kprobe/kprobe/adapters/runspec"
)

// FixedDirs are written by containerd, libcni and the kubelet whatever
// their configuration says (research/real-cluster.md).
var FixedDirs = runspec.FixedDirs

// entryDirs hold one entry per container or pod, in fixed directories
// that may exist before a launch (another runtime, an earlier cluster).
// The snapshot lists their entries; stop removes the new ones that the
// test says are this cluster's.
var entryDirs = map[string]func(entry string, sc Scope) bool{
	// The kubelet's symlinks to the pods' logs under the data dir.
	"/var/log/containers": func(e string, sc Scope) bool {
		t, err := os.Readlink(e)
		return err == nil && sc.DataDir != "" && within(t, sc.DataDir)
	},
	// libcni's cached results, named <network>-<container>-<ifname>.
	"/var/lib/cni/results": func(e string, sc Scope) bool {
		return sc.CNINetwork != "" && strings.HasPrefix(filepath.Base(e), sc.CNINetwork+"-")
	},
	// runc's state of the cluster's containers: their bundles lie in the
	// data dir (containerd's state directory).
	"/run/containerd/runc/k8s.io": func(e string, sc Scope) bool {
		f, err := os.Open(filepath.Join(e, "state.json"))
		if err != nil {
			return false
		}
		defer f.Close()
		b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
		return sc.DataDir != "" && bytes.Contains(b, []byte(strings.TrimSuffix(sc.DataDir, "/")+"/"))
	},
}

func within(p, dir string) bool {
	dir = strings.TrimSuffix(dir, "/")
	return p == dir || strings.HasPrefix(p, dir+"/")
}

func (s *Snapshot) takeDirs() {
	s.Dirs = map[string]bool{}
	for _, d := range FixedDirs {
		_, err := os.Lstat(d)
		s.Dirs[d] = err == nil
	}
	s.Entries = map[string][]string{}
	for d := range entryDirs {
		if _, err := os.Lstat(d); err == nil {
			s.Entries[d] = listDir(d)
		}
	}
}

// undoDirs removes from the fixed directories what the cluster wrote: a
// directory that did not exist before the launch goes whole (no mount
// point inside, no symlink followed); in one that existed, only the new
// per-container entries that are the cluster's.
func (s *Snapshot) undoDirs(sc Scope, note func(string, ...any), fail func(error)) {
	for _, d := range sortedKeys(entryDirs) {
		old, existed := s.Entries[d]
		if !existed || !s.Dirs[topDir(d)] {
			continue // wholly new: removed with its fixed directory below
		}
		before := set(old)
		n := 0
		for _, e := range listDir(d) {
			p := filepath.Join(d, e)
			if before[e] || !entryDirs[d](p, sc) {
				continue
			}
			if err := removeTree(p); err != nil {
				fail(err)
				continue
			}
			n++
		}
		if n > 0 {
			note("removed %d entries of this cluster from %s", n, d)
		}
	}
	for _, d := range FixedDirs {
		if s.Dirs[d] {
			continue
		}
		if _, err := os.Lstat(d); err != nil {
			continue
		}
		if err := removeTree(d); err != nil {
			fail(err)
			continue
		}
		note("removed %s (created by the cluster)", d)
	}
}

// topDir is the fixed directory that holds d.
func topDir(d string) string {
	for _, f := range FixedDirs {
		if within(d, f) {
			return f
		}
	}
	return d
}

// removeTree removes p and what it holds without following a symlink and
// refuses when a mount point lies inside (a pod volume or netns that
// could not be unmounted): nothing of another file system is deleted.
func removeTree(p string) error {
	var top syscall.Stat_t
	if err := syscall.Lstat(p, &top); err != nil {
		return err
	}
	mounts := set(mountpoints())
	var crossing string
	_ = filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st syscall.Stat_t
		if mounts[q] || (d.IsDir() && syscall.Lstat(q, &st) == nil && st.Dev != top.Dev) {
			crossing = q
			return filepath.SkipAll
		}
		return nil
	})
	if crossing != "" {
		return fmt.Errorf("%s not removed: %s is a mount point", p, crossing)
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
