package resources

import (
	"context"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// fakeSys answers Statfs from a table.
type fakeSys struct {
	statfs map[string]probes.Statfs
}

func (f fakeSys) Statfs(p string) (probes.Statfs, error) {
	if st, ok := f.statfs[p]; ok {
		return st, nil
	}
	return probes.Statfs{}, &fs.PathError{Op: "statfs", Path: p, Err: fs.ErrNotExist}
}
func (fakeSys) Uname() (probes.Uname, error)    { return probes.Uname{}, errors.ErrUnsupported }
func (fakeSys) Syslog(int) (string, error)      { return "", errors.ErrUnsupported }
func (fakeSys) TryOpen(string, int) error       { return errors.ErrUnsupported }
func (fakeSys) LookPath(string) (string, error) { return "", errors.ErrUnsupported }
func (fakeSys) Environ() []string               { return nil }
func (fakeSys) Getuid() int                     { return 0 }
func (fakeSys) Exec(context.Context, string, ...string) (probes.ExecResult, error) {
	return probes.ExecResult{}, errors.ErrUnsupported
}

var rootStatfs = map[string]probes.Statfs{"/": {Type: 0xef53, Bsize: 4096, Blocks: 66053021, Bavail: 20905836}}

func hostTree() fstest.MapFS {
	dir := &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	return fstest.MapFS{
		"sys/devices/system/cpu/online":              {Data: []byte("0-1\n")},
		"proc/cpuinfo":                               {Data: []byte(hostCPUInfo)},
		"proc/meminfo":                               {Data: []byte(hostMeminfo)},
		"proc/self/limits":                           {Data: []byte(hostLimits)},
		"proc/self/cgroup":                           {Data: []byte(hostCgroup)},
		"sys/fs/cgroup/cpu/cpu.cfs_quota_us":         {Data: []byte("-1\n")},
		"sys/fs/cgroup/cpu/cpu.cfs_period_us":        {Data: []byte("100000\n")},
		"sys/fs/cgroup/cpuset/cpuset.cpus":           {Data: []byte("0-1\n")},
		"sys/fs/cgroup/memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
		"sys/fs/cgroup/memory/process_api/8abd31263f83a71fa43c1a14c91bfe25/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")},
		"sys/fs/cgroup/unified/cgroup.procs":                                                      {Data: []byte("1\n")},
		"var/lib":                                                                                 dir,
	}
}

func run(t *testing.T, root fs.FS, dataDir string, st map[string]probes.Statfs) *probes.Observation {
	t.Helper()
	o, err := Probe{}.Run(context.Background(), &probes.Env{Root: root, Sys: fakeSys{statfs: st}, DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestRunHost(t *testing.T) {
	st := map[string]probes.Statfs{"/var/lib": rootStatfs["/"]}
	o := run(t, hostTree(), "/var/lib/rancher/k3s", st)
	want := probes.Facts{
		"res.cpus": int64(2), "res.cpus_online": int64(2), "res.cpu_quota_millicores": int64(-1),
		"res.memory_bytes": int64(24684092 * 1024), "res.memory_total_bytes": int64(24684092 * 1024),
		"res.memory_limit_bytes": int64(-1), "res.swap_bytes": int64(0),
		"res.nofile": int64(20000), "res.nofile_hard": int64(20000),
		"res.nproc": int64(96365), "res.nproc_hard": int64(96365),
		// The nearest existing ancestor of the data dir is /var/lib.
		"res.datadir_free_bytes": int64(20905836 * 4096),
	}
	if !reflect.DeepEqual(o.Facts, want) {
		t.Errorf("facts\n got %v\nwant %v", o.Facts, want)
	}
	// The VM's hard limit is 20000 and root lacks CAP_SYS_RESOURCE:
	// `ulimit -n 1048576` would fail, so the fix says so.
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{CodeLowNofile.Code}) {
		t.Fatalf("codes %v", got)
	}
	if f := o.Findings[0]; !strings.Contains(f.Fix, "--ulimit nofile=1048576:1048576") || strings.HasPrefix(f.Fix, "ulimit") {
		t.Errorf("fix %q", f.Fix)
	}
	if want := "2 CPUs, 23.5 GiB memory, no swap, nofile 20000, 79.7 GiB free for the data dir"; o.Summary != want {
		t.Errorf("summary %q, want %q", o.Summary, want)
	}
}

// A Docker-like container on a cgroup v2 host with --cpus 0.5 --memory
// 512m, swap on and a raised open-file limit.
func TestRunLimitedV2(t *testing.T) {
	root := fstest.MapFS{
		"sys/devices/system/cpu/online":            {Data: []byte("0-7\n")},
		"proc/meminfo":                             {Data: []byte(strings.Replace(hostMeminfo, "SwapTotal:             0 kB", "SwapTotal:       2097148 kB", 1))},
		"proc/self/limits":                         {Data: []byte(strings.Replace(hostLimits, "Max open files            20000                20000", "Max open files            1048576              1048576", 1))},
		"proc/self/cgroup":                         {Data: []byte("0::/\n")},
		"sys/fs/cgroup/cgroup.controllers":         {Data: []byte("cpuset cpu io memory pids\n")},
		"sys/fs/cgroup/cpu.max":                    {Data: []byte("50000 100000\n")},
		"sys/fs/cgroup/memory.max":                 {Data: []byte("536870912\n")},
		"sys/fs/cgroup/cpuset.cpus.effective":      {Data: []byte("0-7\n")},
		"var/lib/rancher/k3s/agent/containerd/foo": {Data: []byte("x")},
	}
	st := map[string]probes.Statfs{"/var/lib/rancher/k3s": {Bsize: 4096, Bavail: 1000}}
	o := run(t, root, "/var/lib/rancher/k3s", st)
	for k, want := range map[string]any{
		"res.cpus": int64(1), "res.cpus_online": int64(8), "res.cpu_quota_millicores": int64(500),
		"res.memory_bytes": int64(512 << 20), "res.memory_limit_bytes": int64(512 << 20),
		"res.swap_bytes": int64(2097148 * 1024), "res.nofile": int64(1048576), "res.datadir_free_bytes": int64(4096000),
	} {
		if got := o.Facts[k]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{CodeFewCPUs.Code, CodeNoMemory.Code, CodeSwap.Code}) {
		t.Errorf("codes %v", got)
	}
	if want := "1 CPU (of 8 online), 512 MiB memory (cgroup limit), 2.0 GiB swap, nofile 1048576, 3 MiB free for the data dir"; o.Summary != want {
		t.Errorf("summary %q, want %q", o.Summary, want)
	}
	for _, f := range o.Findings {
		if f.Code == CodeNoMemory.Code && f.Evidence.Source != "/sys/fs/cgroup/memory.max" {
			t.Errorf("memory evidence %+v", f.Evidence)
		}
		if f.Code == CodeFewCPUs.Code && f.Evidence.Source != "/sys/fs/cgroup/cpu.max" {
			t.Errorf("cpu evidence %+v", f.Evidence)
		}
	}
}

// gVisor: no /sys/devices/system/cpu/online in some builds, an empty
// /proc/self/cgroup, no /proc/self/limits readable; 1.9 GiB of memory.
func TestRunGVisorLike(t *testing.T) {
	root := fstest.MapFS{
		"proc/cpuinfo":     {Data: []byte("processor\t: 0\nflags\t: fpu\n")},
		"proc/meminfo":     {Data: []byte("MemTotal:        1992294 kB\nMemFree:         1900000 kB\n")},
		"proc/self/cgroup": {Data: []byte("")},
	}
	o := run(t, root, "/var/lib/rancher/k3s", rootStatfs)
	for k, want := range map[string]any{
		"res.cpus": int64(1), "res.memory_bytes": int64(1992294 * 1024), "res.datadir_free_bytes": int64(20905836 * 4096),
	} {
		if got := o.Facts[k]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	// Unreadable or absent: not set, never guessed.
	for _, k := range []string{"res.nofile", "res.swap_bytes", "res.memory_limit_bytes", "res.cpu_quota_millicores"} {
		if v, ok := o.Facts[k]; ok {
			t.Errorf("%s set to %v", k, v)
		}
	}
	// 1.9 GiB is "2 GiB" with the kernel's reservation: no low-memory
	// warning; 1 CPU warns.
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{CodeFewCPUs.Code}) {
		t.Errorf("codes %v", got)
	}
	if want := "1 CPU, 1.9 GiB memory, 79.7 GiB free for the data dir"; o.Summary != want {
		t.Errorf("summary %q, want %q", o.Summary, want)
	}
}

func TestRunLowMemory(t *testing.T) {
	root := hostTree()
	root["proc/meminfo"] = &fstest.MapFile{Data: []byte("MemTotal:        1500000 kB\nSwapTotal: 0 kB\n")}
	o := run(t, root, "/", rootStatfs)
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{CodeLowMemory.Code, CodeLowNofile.Code}) {
		t.Errorf("codes %v", got)
	}
}

// A container without a cgroup namespace: /proc/self/cgroup names the
// host path, but the mount is the container's own cgroup.
func TestCgroupWithoutNamespace(t *testing.T) {
	root := fstest.MapFS{
		"proc/self/cgroup":                            {Data: []byte("4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n")},
		"sys/fs/cgroup/memory/memory.limit_in_bytes":  {Data: []byte("1073741824\n")},
		"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  {Data: []byte("200000\n")},
		"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": {Data: []byte("100000\n")},
	}
	env := &probes.Env{Root: root}
	cg := readCgroups(env, probes.NewObservation())
	if l, src, found := cg.memoryLimit(env); !found || l != 1<<30 || src != "/sys/fs/cgroup/memory/memory.limit_in_bytes" {
		t.Errorf("memory %d %q %v", l, src, found)
	}
	if q, p, _, found := cg.cpuQuota(env); !found || q != 200000 || p != 100000 {
		t.Errorf("cpu %d %d %v", q, p, found)
	}
}

// Our cgroup and an ancestor both limit: the tighter one wins.
func TestCgroupAncestors(t *testing.T) {
	root := fstest.MapFS{
		"proc/self/cgroup":                 {Data: []byte("0::/a/b\n")},
		"sys/fs/cgroup/cgroup.controllers": {Data: []byte("cpu memory\n")},
		"sys/fs/cgroup/a/memory.max":       {Data: []byte("1000000\n")},
		"sys/fs/cgroup/a/b/memory.max":     {Data: []byte("max\n")},
		"sys/fs/cgroup/a/cpu.max":          {Data: []byte("max 100000\n")},
		"sys/fs/cgroup/a/b/cpu.max":        {Data: []byte("250000 100000\n")},
	}
	env := &probes.Env{Root: root}
	cg := readCgroups(env, probes.NewObservation())
	if l, src, _ := cg.memoryLimit(env); l != 1000000 || src != "/sys/fs/cgroup/a/memory.max" {
		t.Errorf("memory %d %q", l, src)
	}
	if q, p, src, _ := cg.cpuQuota(env); q != 250000 || p != 100000 || src != "/sys/fs/cgroup/a/b/cpu.max" {
		t.Errorf("cpu %d %d %q", q, p, src)
	}
}

func TestNofileFix(t *testing.T) {
	for hard, want := range map[int64]string{
		-1: "ulimit -n 1048576", 2097152: "ulimit -n 1048576", 524288: "ulimit -n 524288",
	} {
		if got := nofileFix(hard); got != want {
			t.Errorf("%d: %q", hard, got)
		}
	}
	if got := nofileFix(4096); !strings.Contains(got, "CAP_SYS_RESOURCE") {
		t.Errorf("4096: %q", got)
	}
}

func TestMetadata(t *testing.T) {
	p := Probe{}
	if !probes.ValidID(p.ID()) || p.Mode() != probes.Passive {
		t.Errorf("bad ID or mode")
	}
	for _, c := range p.Codes() {
		if !strings.HasPrefix(c.Code, "KP-RES-") || c.Fix == "" || c.Meaning == "" {
			t.Errorf("bad code %+v", c)
		}
	}
	probes.SchemaOf([]probes.Probe{p})
}
