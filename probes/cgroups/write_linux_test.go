//go:build linux

package cgroups

import (
	"os"
	"path/filepath"
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

// The finding (issue 18, the zoo's vm-v2-cgns): in a container's cgroup
// namespace root that threaded controllers had made a thread root, +memory
// failed with EOPNOTSUPP and the scan said needs_evacuation=unknown. Only
// a populated "domain threaded" cgroup reads as one; cgroup.type and
// cgroup.procs are read as the kernel shows them.
func TestThreadRootWithProcs(t *testing.T) {
	for _, tc := range []struct {
		typ, procs string
		want       bool
	}{
		{"domain threaded\n", "1\n7\n", true},
		{"domain threaded\n", "", false},
		{"domain\n", "1\n", false},
		{"", "1\n", false}, // the real root: no cgroup.type
	} {
		dir := t.TempDir()
		if tc.typ != "" {
			if err := os.WriteFile(filepath.Join(dir, "cgroup.type"), []byte(tc.typ), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(tc.procs), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := threadRootWithProcs(probes.NewObservation(), dir); got != tc.want {
			t.Errorf("type %q procs %q: %v, want %v", tc.typ, tc.procs, got, tc.want)
		}
	}
}
