//go:build linux

package resources_test

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/resources"
)

func TestLive(t *testing.T) {
	probetest.RequireRoot(t)
	r := probetest.Live(t, resources.Probe{})
	t.Logf("resources: %s in %.2f ms, facts %v, findings %v", r.Status, r.DurationMS, r.Facts, r.Findings)
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	f := r.Facts
	// No cpuset or quota narrows this VM's 2 vCPUs.
	if n, _ := f.Int("res.cpus"); n != int64(runtime.NumCPU()) {
		t.Errorf("res.cpus = %d, want %d", n, runtime.NumCPU())
	}
	var memTotal int64
	mf, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	sc := bufio.NewScanner(mf)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			memTotal = kb * 1024
		}
	}
	if n, _ := f.Int("res.memory_total_bytes"); n != memTotal || memTotal == 0 {
		t.Errorf("res.memory_total_bytes = %d, want %d", n, memTotal)
	}
	if n, ok := f.Int("res.memory_bytes"); !ok || n > memTotal || n < 1<<30 {
		t.Errorf("res.memory_bytes = %d", n)
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	// Go raises the soft limit to the hard one at startup, but
	// /proc/self/limits is read from the same process, so they agree.
	if n, _ := f.Int("res.nofile"); n != int64(rl.Cur) {
		t.Errorf("res.nofile = %d, want %d", n, rl.Cur)
	}
	if n, _ := f.Int("res.nofile_hard"); n != int64(rl.Max) {
		t.Errorf("res.nofile_hard = %d, want %d", n, rl.Max)
	}
	if n, ok := f.Int("res.nproc"); !ok || n == 0 {
		t.Errorf("res.nproc = %d, %v", n, ok)
	}
	// probetest.Live uses a fresh temp dir as the data dir.
	if n, ok := f.Int("res.datadir_free_bytes"); !ok || n <= 0 {
		t.Errorf("res.datadir_free_bytes = %d, %v", n, ok)
	}
	hasNofile := false
	for _, fd := range r.Findings {
		if fd.Code == resources.CodeLowNofile.Code {
			hasNofile = true
		}
	}
	if want := rl.Cur < 65536; hasNofile != want {
		t.Errorf("KP-RES-004 present = %v, want %v (nofile %d)", hasNofile, want, rl.Cur)
	}
}

func TestLiveMissingDataDir(t *testing.T) {
	probetest.RequireRoot(t)
	env := probes.LiveEnv("/nonexistent-kprobe/a/b")
	s := probes.Run(t.Context(), env, []probes.Probe{resources.Probe{}}, probes.Options{})
	var st syscall.Statfs_t
	if err := syscall.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	got, ok := s.Results[0].Facts.Int("res.datadir_free_bytes")
	want := int64(st.Bavail) * st.Bsize
	// Free space moves a little between the two calls.
	if !ok || got < want-(64<<20) || got > want+(64<<20) {
		t.Errorf("datadir free = %d, want about %d (statfs of /)", got, want)
	}
}
