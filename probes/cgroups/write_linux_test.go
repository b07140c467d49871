//go:build linux

package cgroups

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes"
)

func TestWriteSummary(t *testing.T) {
	ok := func(name string) *target { return &target{name: name, made: true, join: probes.Yes} }
	for _, tc := range []struct {
		targets     []*target
		subtree, ev probes.Tri
		want        string
	}{
		{[]*target{ok("memory"), ok("pids"), ok("cpu"), ok("cgroup2")}, probes.Yes, probes.No,
			"child cgroups (mkdir, join): memory pids cpu cgroup2 ok; subtree_control writable"},
		{[]*target{{name: "memory", mkdir: unix.EROFS}, {name: "pids", mkdir: unix.EROFS}, ok("cgroup2")}, probes.No, probes.Yes,
			"child cgroups (mkdir, join): memory pids EROFS, cgroup2 ok; subtree_control not writable (processes must leave the cgroup first)"},
		{[]*target{{name: "cgroup2", made: true, join: probes.No}}, probes.Unknown, probes.Unknown,
			"child cgroups (mkdir, join): cgroup2 created, join refused"},
	} {
		if got := writeSummary(tc.targets, tc.subtree, tc.ev); got != tc.want {
			t.Errorf("writeSummary = %q\nwant           %q", got, tc.want)
		}
	}
}
