//go:build linux

package cgroups

import (
	"slices"
	"testing"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
)

// TestOwnDirs: the cgroup v1 layout of this project's build host (every
// hierarchy at / but memory, which is below process_api/ID), as its
// /proc/self/mountinfo and /proc/self/cgroup read; a probe child's
// kprobe-MODE-PID-* cgroups lie directly below these directories.
func TestOwnDirs(t *testing.T) {
	const mountinfo = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	const cgroup = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/c71ed50d7ea55d3f753257c6abd38fc1
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`
	env := &probes.Env{Root: fstest.MapFS{
		"proc/self/mountinfo": {Data: []byte(mountinfo)},
		"proc/self/cgroup":    {Data: []byte(cgroup)},
	}}
	got := OwnDirs(env)
	want := []string{
		"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpuset",
		"/sys/fs/cgroup/memory/process_api/c71ed50d7ea55d3f753257c6abd38fc1",
		"/sys/fs/cgroup/devices", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/blkio",
		"/sys/fs/cgroup/pids", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("OwnDirs = %q\nwant %q", got, want)
	}
}
