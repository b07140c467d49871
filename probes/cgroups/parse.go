package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"

	"github.com/kprobe/kprobe/probes/procfs"
)

// Mount is a cgroup or cgroup2 mount of /proc/self/mountinfo, with what
// its options say about the hierarchy.
type Mount struct {
	mountinfo.Info
	ReadOnly bool // mounted or superblock read-only
	// Controllers are the v1 controllers of the hierarchy (from the
	// superblock options); empty for cgroup2 and for named hierarchies.
	Controllers []string
	// Name is the name= of a named v1 hierarchy ("systemd").
	Name string
}

// V2 reports whether m is a cgroup2 mount.
func (m Mount) V2() bool { return m.FSType == "cgroup2" }

// knownControllers are the v1 controller names of Linux 6.x; any other
// superblock option of a cgroup mount is a mount flag.
var knownControllers = map[string]bool{
	"cpuset": true, "cpu": true, "cpuacct": true, "blkio": true, "io": true,
	"memory": true, "devices": true, "freezer": true, "net_cls": true,
	"perf_event": true, "net_prio": true, "hugetlb": true, "pids": true,
	"rdma": true, "misc": true, "debug": true, "job": true,
}

// CgroupMounts returns the cgroup and cgroup2 mounts of a mount table
// (procfs.ParseMountinfo), in table order.
func CgroupMounts(all []*mountinfo.Info) []Mount {
	var out []Mount
	for _, mi := range all {
		if mi.FSType != "cgroup" && mi.FSType != "cgroup2" {
			continue
		}
		m := Mount{Info: *mi, ReadOnly: hasOpt(mi.Options, "ro") || hasOpt(mi.VFSOptions, "ro")}
		if mi.FSType == "cgroup" {
			for _, o := range strings.Split(mi.VFSOptions, ",") {
				switch {
				case knownControllers[o]:
					m.Controllers = append(m.Controllers, o)
				case strings.HasPrefix(o, "name="):
					m.Name = strings.TrimPrefix(o, "name=")
				}
			}
		}
		out = append(out, m)
	}
	return out
}

func hasOpt(opts, want string) bool {
	return slices.Contains(strings.Split(opts, ","), want)
}

// Membership is one line of /proc/<pid>/cgroup (procfs.CgroupMember).
type Membership = procfs.CgroupMember

// ParseProcCgroup parses /proc/<pid>/cgroup strictly: a malformed line is
// an error. An empty text (gVisor) gives no memberships and no error.
func ParseProcCgroup(r io.Reader) ([]Membership, error) {
	ms, err := procfs.ParseCgroup(r)
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// Subsystem is one row of /proc/cgroups.
type Subsystem struct {
	Name      string
	Hierarchy int // 0: not bound to a v1 hierarchy (on cgroup2 or unused)
	Cgroups   int
	Enabled   bool
}

// ParseProcCgroups parses /proc/cgroups ("#subsys_name hierarchy
// num_cgroups enabled" and one row per controller).
func ParseProcCgroups(r io.Reader) ([]Subsystem, error) {
	var out []Subsystem
	s := bufio.NewScanner(r)
	n := 0
	for s.Scan() {
		n++
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return nil, fmt.Errorf("/proc/cgroups line %d: want 4 fields, got %q", n, line)
		}
		var nums [3]int
		for i, x := range f[1:4] {
			v, err := strconv.Atoi(x)
			if err != nil {
				return nil, fmt.Errorf("/proc/cgroups line %d: %q is not a number", n, x)
			}
			nums[i] = v
		}
		out = append(out, Subsystem{Name: f[0], Hierarchy: nums[0], Cgroups: nums[1], Enabled: nums[2] != 0})
	}
	return out, s.Err()
}

// ParseControllerList parses cgroup.controllers or cgroup.subtree_control:
// controller names separated by spaces.
func ParseControllerList(s string) []string {
	f := strings.Fields(s)
	if f == nil {
		return []string{}
	}
	return f
}

// HasFilesystem reports whether /proc/filesystems lists fstype
// ("nodev\tcgroup2").
func HasFilesystem(procFilesystems, fstype string) bool {
	for _, line := range strings.Split(procFilesystems, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == fstype {
			return true
		}
	}
	return false
}

// Layout names the cgroup layout of a mount table the way the kubelet and
// runc see it: "v2" when cgroup2 is mounted at /sys/fs/cgroup (or is the
// only cgroup filesystem with controllers), "hybrid" when v1 controller
// hierarchies sit next to a cgroup2 mount elsewhere (systemd's
// /sys/fs/cgroup/unified), "v1" with v1 controller hierarchies only, and
// "none" without any. Named-only v1 hierarchies (name=systemd) hold no
// controller and do not count.
func Layout(mounts []Mount) string {
	v1, v2, v2root := false, false, false
	for _, m := range mounts {
		switch {
		case m.V2():
			v2 = true
			if path.Clean(m.Mountpoint) == "/sys/fs/cgroup" {
				v2root = true
			}
		case len(m.Controllers) > 0:
			v1 = true
		}
	}
	switch {
	case v2root:
		return "v2"
	case v1 && v2:
		return "hybrid"
	case v1:
		return "v1"
	case v2:
		return "v2"
	}
	return "none"
}

// topMounts keeps, for each mountpoint, the last mount in file order: the
// one on top that a path lookup reaches.
func topMounts(mounts []Mount) []Mount {
	idx := map[string]int{}
	var out []Mount
	for _, m := range mounts {
		mp := path.Clean(m.Mountpoint)
		if i, ok := idx[mp]; ok {
			out[i] = m
			continue
		}
		idx[mp] = len(out)
		out = append(out, m)
	}
	return out
}

// rank prefers the canonical mountpoints under /sys/fs/cgroup.
func rank(mp string) int {
	mp = path.Clean(mp)
	switch {
	case mp == "/sys/fs/cgroup":
		return 0
	case strings.HasPrefix(mp, "/sys/fs/cgroup/"):
		return 1
	}
	return 2
}

// V2Mount returns the cgroup2 mount the kubelet would use: at
// /sys/fs/cgroup, else under it (unified), else any.
func V2Mount(mounts []Mount) (Mount, bool) {
	var best Mount
	found := false
	for _, m := range topMounts(mounts) {
		if m.V2() && (!found || rank(m.Mountpoint) < rank(best.Mountpoint)) {
			best, found = m, true
		}
	}
	return best, found
}

// V1Mount returns the v1 hierarchy that holds controller.
func V1Mount(mounts []Mount, controller string) (Mount, bool) {
	var best Mount
	found := false
	for _, m := range topMounts(mounts) {
		if !m.V2() && slices.Contains(m.Controllers, controller) &&
			(!found || rank(m.Mountpoint) < rank(best.Mountpoint)) {
			best, found = m, true
		}
	}
	return best, found
}

// V2Path returns the process's cgroup2 path from its memberships.
func V2Path(ms []Membership) (string, bool) {
	for _, m := range ms {
		if m.V2() {
			return m.Path, true
		}
	}
	return "", false
}

// V1Path returns the process's path in the v1 hierarchy holding controller.
func V1Path(ms []Membership, controller string) (string, bool) {
	for _, m := range ms {
		if slices.Contains(m.Controllers, controller) {
			return m.Path, true
		}
	}
	return "", false
}

// CgroupDir maps a process's cgroup path to the directory under a mount
// that shows it: the mount shows the hierarchy from m.Root down, so the
// path is taken relative to it. When the path lies outside the mount's
// root (a cgroup namespace whose root is below the mount's), the path is
// joined as is. The result is absolute.
func CgroupDir(m Mount, cgPath string) string {
	root := path.Clean("/" + m.Root)
	p := path.Clean("/" + cgPath)
	switch {
	case root == "/":
	case p == root:
		p = "/"
	case strings.HasPrefix(p, root+"/"):
		p = strings.TrimPrefix(p, root)
	}
	return path.Join(m.Mountpoint, p)
}

// initialCgroupNS is the inode of the initial cgroup namespace
// (PROC_CGROUP_INIT_INO, 0xEFFFFFFB, include/linux/proc_ns.h).
const initialCgroupNS = "cgroup:[4026531835]"

// OwnNamespace judges a readlink of /proc/self/ns/cgroup: the initial
// namespace has a fixed inode, anything else is a namespace of its own.
func OwnNamespace(link string) (own, ok bool) {
	if !strings.HasPrefix(link, "cgroup:[") || !strings.HasSuffix(link, "]") {
		return false, false
	}
	return link != initialCgroupNS, true
}

// OwnPath is the process's cgroup as the kubelet's cgroupfs paths name it:
// its path below the root of the mount that shows each hierarchy the
// kubelet uses (every v1 controller hierarchy on v1 and hybrid, cgroup2 on
// v2). It is "/" where the mounts show the own cgroup as their root (a
// cgroup namespace, runc's v1 binds without one) and a deeper path where
// they show the host's whole tree (`--cgroupns=host` on cgroup v2, a bind
// of the host's /sys/fs/cgroup): there the kubelet's "/kubepods" is the
// host's top level. ok is false when a hierarchy has no membership, is
// mounted above the cgroup namespace, or the hierarchies disagree: no one
// cgroup root then lies below the own cgroup in all of them.
func OwnPath(mounts []Mount, members []Membership, layout string) (own string, ok bool) {
	var used []Mount
	for _, m := range topMounts(mounts) {
		if (layout == "v2" && m.V2()) || ((layout == "v1" || layout == "hybrid") && !m.V2() && len(m.Controllers) > 0) {
			used = append(used, m)
		}
	}
	for _, m := range used {
		var p string
		var found bool
		if m.V2() {
			p, found = V2Path(members)
		} else {
			p, found = V1Path(members, m.Controllers[0])
		}
		root := path.Clean("/" + m.Root)
		if !found || strings.HasPrefix(m.Root, "/..") {
			return "", false
		}
		p = path.Clean("/" + p)
		switch {
		case root == "/":
		case p == root:
			p = "/"
		case strings.HasPrefix(p, root+"/"):
			p = strings.TrimPrefix(p, root)
		default:
			return "", false
		}
		if own != "" && p != own {
			return "", false
		}
		own = p
	}
	return own, own != ""
}
