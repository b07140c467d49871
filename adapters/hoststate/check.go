package hoststate

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// Leftovers compares the host with the snapshot, item by item of the
// journal, and lists what a cluster changed and is still changed: a
// sysctl not at its value before, a cluster chain or table, a fixed
// directory, link, netns, mount or kubepods cgroup that was not there.
// Stop runs it after Undo: an empty list is what "stopped" means.
func (s *Snapshot) Leftovers(ctx context.Context, sc Scope) []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	out = append(out, s.sysctlLeftovers()...)
	out = append(out, s.iptablesLeftovers(ctx)...)
	for _, d := range FixedDirs {
		if _, err := os.Lstat(d); err == nil && !s.Dirs[d] {
			add("%s was created and is still there", d)
		}
	}
	oldLinks, oldNS, oldMounts, oldCg := set(s.Links), set(s.Netns), set(s.Mounts), set(s.Cgroups)
	for _, l := range listDir("/sys/class/net") {
		if !oldLinks[l] && ourLink(l, sc) {
			add("link %s is still there", l)
		}
	}
	for _, n := range listDir("/run/netns") {
		if !oldNS[n] && ourNetns(n) {
			add("netns %s is still there", n)
		}
	}
	for _, m := range mountpoints() {
		if !oldMounts[m] && ours(m, sc) {
			add("mount %s is still there", m)
		}
	}
	for _, c := range kubepodsCgroups(s.CgroupRoots) {
		if !oldCg[c] {
			add("cgroup %s is still there", c)
		}
	}
	return out
}

func (s *Snapshot) sysctlLeftovers() []string {
	var out []string
	for _, k := range sortedKeys(s.Sysctls) {
		if v, err := readSysctl(k); err == nil && v != s.Sysctls[k] {
			out = append(out, fmt.Sprintf("sysctl %s is %s, was %s", strings.ReplaceAll(k, "/", "."), v, s.Sysctls[k]))
		}
	}
	return out
}
