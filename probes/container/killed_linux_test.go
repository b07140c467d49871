//go:build linux

package container_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/cgroups"
	"github.com/kprobe/kprobe/probes/container"
	"github.com/kprobe/kprobe/probes/probetest"
)

// TestKilledChildLeavesNothing kills the probe child at its time limit
// while a container of the full configuration runs (its cgroup exists
// and holds the container's init, which has left the child's process
// group: runc's init calls setsid),
// as the scan does when a probe overruns. Afterwards no cgroup named
// after the child's PID may remain and the init must be gone.
func TestKilledChildLeavesNothing(t *testing.T) {
	probetest.RequireRoot(t)
	if testing.Short() {
		t.Skip("starts containers")
	}
	if !container.Available() {
		t.Skip("built without cgo: libcontainer's nsenter is missing")
	}
	env := probes.LiveEnv(t.TempDir())
	dirs := cgroups.OwnDirs(env)
	if len(dirs) == 0 {
		t.Skip("no cgroup hierarchy of our own to watch")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type seen struct {
		cgroup string
		pid    int      // the probe child, from the cgroup's name
		inits  []string // "PID starttime" of the processes in the cgroup
	}
	found := make(chan seen, 1)
	go func() {
		defer cancel()
		for ctx.Err() == nil {
			for _, d := range dirs {
				m, _ := filepath.Glob(filepath.Join(d, "kprobe-"+container.ModeFull+"-*"))
				for _, cg := range m {
					procs, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
					if !hasSessionLeader(strings.Fields(string(procs))) {
						continue
					}
					var s seen
					s.cgroup = cg
					f := strings.Split(filepath.Base(cg), "-")
					s.pid, _ = strconv.Atoi(f[2])
					for _, p := range strings.Fields(string(procs)) {
						s.inits = append(s.inits, p+" "+startTime(p))
					}
					found <- s
					return // cancel: the child's time limit is up
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	runner := &probes.ChildRunner{DataDir: t.TempDir()}
	_, err := runner.RunActive(ctx, container.Probe{})
	t.Logf("RunActive: %v", err)
	var s seen
	select {
	case s = <-found:
	default:
		t.Fatal("no container cgroup holding a session leader was seen before the probe ended")
	}
	t.Logf("killed child %d while %s held %q", s.pid, s.cgroup, s.inits)
	if err == nil {
		t.Fatal("RunActive returned no error although its context was cancelled")
	}
	var left []string
	for _, d := range dirs {
		for _, mode := range container.Modes {
			m, _ := filepath.Glob(filepath.Join(d, fmt.Sprintf("kprobe-%s-%d-*", mode, s.pid)))
			left = append(left, m...)
		}
	}
	if len(left) > 0 {
		t.Errorf("cgroups of child %d left behind: %q", s.pid, left)
	}
	for _, p := range s.inits {
		pid, started, _ := strings.Cut(p, " ")
		if started == "" {
			continue // already exiting (a zombie) when seen: nothing to compare
		}
		if now := pid + " " + startTime(pid); now == p {
			cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			t.Errorf("process %s (%q) of the killed child's container still runs", pid, strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
}

// hasSessionLeader reports whether one of pids leads its own session.
func hasSessionLeader(pids []string) bool {
	for _, p := range pids {
		b, err := os.ReadFile("/proc/" + p + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if f := strings.Fields(string(b[i+1:])); len(f) > 3 && f[3] == p {
			return true
		}
	}
	return false
}

// startTime is field 22 of /proc/PID/stat (the process's start time), to
// tell a process from a later one with the same PID; "" once it is gone.
func startTime(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return ""
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" {
		return ""
	}
	return f[19]
}
