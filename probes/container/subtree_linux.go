//go:build linux

package container

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs2"

	"github.com/kprobe/kprobe/probes"
	pcgroups "github.com/kprobe/kprobe/probes/cgroups"
)

// On cgroup v2, libcontainer makes a container's cgroup beside the
// calling process's own (in its parent) and enables every available
// controller in cgroup.subtree_control of each cgroup from the mount point
// down to that parent (fs2.CreateCgroupPath), and Destroy leaves them on.
// In a container's cgroup namespace, whose root holds the container's
// processes, the threaded ones it manages to enable (cpu, cpuset, pids)
// make the root a thread root where nothing can be delegated any more
// (the zoo's vm-v2-cgns). A scan must leave the sandbox as it found it,
// so the probe turns off again what the containers' manager turned on.

// subtreeChain is the cgroups whose cgroup.subtree_control libcontainer
// writes when it makes a container's cgroup here: none on cgroup v1 or
// hybrid hosts (the v1 manager writes no subtree_control).
func subtreeChain() []string {
	if !cgroups.IsCgroup2UnifiedMode() {
		return nil
	}
	own, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	dir := fs2.UnifiedMountpoint
	chain := []string{dir}
	for _, e := range strings.Split(filepath.Dir(own[""]), "/") {
		if e != "" {
			dir = filepath.Join(dir, e)
			chain = append(chain, dir)
		}
	}
	return chain
}

// readSubtrees reads cgroup.subtree_control of each of dirs; a dir whose
// file cannot be read is left out (nothing is restored there).
func readSubtrees(dirs []string) map[string][]string {
	out := make(map[string][]string, len(dirs))
	for _, d := range dirs {
		if cs, err := pcgroups.ReadList(filepath.Join(d, "cgroup.subtree_control")); err == nil {
			out[d] = cs
		}
	}
	return out
}

// restoreSubtrees turns off, deepest cgroup first (a parent cannot turn
// off what a child still delegates), each controller enabled since before
// was read, and notes each write.
func restoreSubtrees(before map[string][]string, dirs []string, o *probes.Observation) {
	after := readSubtrees(dirs)
	for _, d := range slices.Backward(dirs) {
		was, ok := before[d]
		if !ok {
			continue
		}
		for _, c := range after[d] {
			if slices.Contains(was, c) {
				continue
			}
			file := filepath.Join(d, "cgroup.subtree_control")
			err := pcgroups.WriteFile(file, "-"+c)
			o.Note("write -"+c+" > "+file+" (the containers' cgroup manager had enabled it)", "", err)
		}
	}
}
