// Package resources measures what the sandbox gives a Kubernetes node to
// work with: CPUs (online, narrowed by the cgroup cpuset and CFS quota),
// memory (narrowed by the cgroup limit), swap, the open-file and process
// limits, and the free space where the engine will write. It reads /proc,
// /sys and cgroupfs through env.Root with small parsers (not gopsutil, which
// reads the host directly and could not be replayed from a capture).
package resources

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// Probe is the resources probe.
type Probe struct{}

var _ probes.Probe = Probe{}

// Memory floors, measured (research/memory-floor.md): the summed VmRSS of
// every process a cluster runs, on this project's VM, with the upstream
// engine, 45 s after `kprobe launch` reported ready, plus room for the
// kernel and the sandbox's own processes.
const (
	// ControlPlaneMemory is the floor of T3 (and TP): etcd 42, API server
	// 284, controller manager 119, scheduler 66 and the supervisor 84 MiB
	// measured, 596 MiB in all.
	ControlPlaneMemory = 768 << 20
	// WorkerMemory is the floor of the worker rungs (T2 and up): 802 MiB
	// measured for the components, containerd, the kubelet, kube-proxy
	// and the supervisor, plus 18 MiB of pods and about 13 MiB per
	// containerd shim.
	WorkerMemory = 1 << 30
)

// MeetsMemory says whether memory bytes meet floor, allowing the 1/16
// that a VM's MemTotal falls short of the memory it was given.
func MeetsMemory(memory, floor int64) bool { return memory+memory/16 >= floor }

const (
	kib = 1 << 10
	gib = 1 << 30

	// The floors are compared with the memory plus 1/16: a VM sold as
	// 1 GiB reports a MemTotal a few percent lower (958 MiB).
	lowMemory = 2 * gib

	minNofile = 65536
	// unlimitedMem is where cgroup v1 memory.limit_in_bytes means "none"
	// (the page-rounded LONG_MAX, 9223372036854771712).
	unlimitedMem = 1 << 62
)

// Codes of the resources probe.
var (
	CodeFewCPUs = probes.Code{Code: "KP-RES-001", Severity: probes.Warn,
		Title:   "fewer than 2 CPUs",
		Meaning: "A single-node k3s runs on 1 CPU but is slow to start and schedule; kubeadm refuses fewer than 2 (preflight NumCPU).",
		Fix:     "give the sandbox 2 or more CPUs (docker run --cpus 2, or more vCPUs for the VM)"}
	CodeNoMemory = probes.Code{Code: "KP-RES-002", Severity: probes.Block,
		Title:   "less than 768 MiB of memory",
		Meaning: "The control plane alone (etcd, the API server, the controller manager, the scheduler and kprobe's supervisor) was measured at about 600 MiB resident; below 768 MiB the OOM killer stops it.",
		Fix:     "give the sandbox 1 GiB or more (docker run --memory 1g, or more VM memory)"}
	CodeNoWorkerMemory = probes.Code{Code: "KP-RES-006", Severity: probes.Warn,
		Title:   "less than 1 GiB of memory: the control plane only",
		Meaning: "A worker (containerd, the kubelet, kube-proxy and the system pods) adds about 250 MiB to the control plane, about 850 MiB in all; below 1 GiB only the control plane fits (T3).",
		Fix:     "give the sandbox 1 GiB or more (docker run --memory 1g, or more VM memory)"}
	CodeLowMemory = probes.Code{Code: "KP-RES-003", Severity: probes.Warn,
		Title:   "less than 2 GiB of memory",
		Meaning: "A k3s server with its packaged components fits, but little is left for workloads and evictions start early.",
		Fix:     "give the sandbox 2 GiB or more (docker run --memory 2g); or deploy no add-ons: kprobe launch --no-addons"}
	CodeLowNofile = probes.Code{Code: "KP-RES-004", Severity: probes.Warn,
		Title:   "open-file limit below 65536",
		Meaning: "The kubelet, containerd and the API server hold many files and watches; a low RLIMIT_NOFILE shows up as \"too many open files\" under load.",
		Fix:     "ulimit -n 1048576"}
	CodeSwap = probes.Code{Code: "KP-RES-005", Severity: probes.Info,
		Title:   "swap is on",
		Meaning: "The kubelet refuses to start with swap unless failSwapOn is false; kprobe sets failSwapOn: false (k3s passes fail-swap-on=false itself).",
		Fix:     "nothing to do: kprobe sets the kubelet's failSwapOn: false (or swapoff -a)"}
)

func (Probe) ID() string            { return "resources" }
func (Probe) Domain() probes.Domain { return probes.DomainResources }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code {
	return []probes.Code{CodeFewCPUs, CodeNoMemory, CodeLowMemory, CodeLowNofile, CodeSwap, CodeNoWorkerMemory}
}

func (Probe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "res.cpus", Type: probes.TypeInt, Doc: "usable CPUs: online CPUs narrowed by the cgroup cpuset and CFS quota (rounded up)"},
		{Key: "res.cpus_online", Type: probes.TypeInt, Doc: "online CPUs (/sys/devices/system/cpu/online, else /proc/cpuinfo)"},
		{Key: "res.cpu_quota_millicores", Type: probes.TypeInt, Doc: "CFS quota of our cgroup or its ancestors in millicores, -1 when none"},
		{Key: "res.memory_bytes", Type: probes.TypeInt, Doc: "usable memory: MemTotal narrowed by the cgroup memory limit"},
		{Key: "res.memory_total_bytes", Type: probes.TypeInt, Doc: "MemTotal of /proc/meminfo"},
		{Key: "res.memory_limit_bytes", Type: probes.TypeInt, Doc: "memory limit of our cgroup or its ancestors, -1 when none"},
		{Key: "res.swap_bytes", Type: probes.TypeInt, Doc: "SwapTotal of /proc/meminfo"},
		{Key: "res.nofile", Type: probes.TypeInt, Doc: "soft RLIMIT_NOFILE (/proc/self/limits), -1 for unlimited"},
		{Key: "res.nofile_hard", Type: probes.TypeInt, Doc: "hard RLIMIT_NOFILE, -1 for unlimited"},
		{Key: "res.nproc", Type: probes.TypeInt, Doc: "soft RLIMIT_NPROC, -1 for unlimited"},
		{Key: "res.nproc_hard", Type: probes.TypeInt, Doc: "hard RLIMIT_NPROC, -1 for unlimited"},
		{Key: "res.datadir_free_bytes", Type: probes.TypeInt, Doc: "bytes available to unprivileged writers (f_bavail) on the data dir or its nearest existing ancestor"},
	}
}

// Run reads /sys/devices/system/cpu/online, /proc/meminfo,
// /proc/self/limits, /proc/self/cgroup and the cgroup files it names, and
// statfs(2)s the data dir.
func (Probe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	cg := readCgroups(env, o)
	cpus(env, o, cg)
	memory(env, o, cg)
	limits(env, o)
	dataDir(env, o)
	o.Summary = summary(o.Facts)
	return o, nil
}

// summary says what a node would have: "2 CPUs, 23.5 GiB memory, no
// swap, nofile 20000, 78.0 GiB free for the data dir".
func summary(f probes.Facts) string {
	size := func(n int64) string {
		if n < gib {
			return fmt.Sprintf("%d MiB", n>>20)
		}
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	}
	var parts []string
	if n, ok := f.Int("res.cpus"); ok {
		c := fmt.Sprintf("%d CPUs", n)
		if n == 1 {
			c = "1 CPU"
		}
		if on, ok := f.Int("res.cpus_online"); ok && on != n {
			c += fmt.Sprintf(" (of %d online)", on)
		}
		parts = append(parts, c)
	}
	if n, ok := f.Int("res.memory_bytes"); ok {
		m := size(n) + " memory"
		if l, ok := f.Int("res.memory_limit_bytes"); ok && l >= 0 {
			m += " (cgroup limit)"
		}
		parts = append(parts, m)
	}
	if n, ok := f.Int("res.swap_bytes"); ok {
		if n == 0 {
			parts = append(parts, "no swap")
		} else {
			parts = append(parts, size(n)+" swap")
		}
	}
	if n, ok := f.Int("res.nofile"); ok {
		parts = append(parts, fmt.Sprintf("nofile %d", n))
	}
	if n, ok := f.Int("res.datadir_free_bytes"); ok {
		parts = append(parts, size(n)+" free for the data dir")
	}
	return strings.Join(parts, ", ")
}

func gibText(n int64) string { return fmt.Sprintf("%.2f GiB", float64(n)/gib) }

func cpus(env *probes.Env, o *probes.Observation, cg cgroupView) {
	online := 0
	b, err := fs.ReadFile(env.Root, "sys/devices/system/cpu/online")
	if err == nil {
		online, err = ParseCPUList(string(b))
	}
	ev := probes.Evidence{Source: "/sys/devices/system/cpu/online", Excerpt: strings.TrimSpace(string(b))}
	if err == nil {
		o.Note(ev.Source, ev.Excerpt, nil)
	} else {
		o.Note("/sys/devices/system/cpu/online", "", err)
		b, cerr := fs.ReadFile(env.Root, "proc/cpuinfo")
		if cerr == nil {
			online, cerr = CountCPUInfo(bytes.NewReader(b))
		}
		if cerr != nil || online == 0 {
			o.Note("/proc/cpuinfo", "no processor entries", cerr)
			return
		}
		ev = probes.Evidence{Source: "/proc/cpuinfo", Excerpt: fmt.Sprintf("%d processor entries", online)}
		o.Note(ev.Source, ev.Excerpt, nil)
	}
	o.Set("res.cpus_online", online)
	usable := int64(online)
	if n, src := cg.cpuset(env); n > 0 && int64(n) < usable {
		usable = int64(n)
		ev = probes.Evidence{Source: src, Excerpt: fmt.Sprintf("cpuset allows %d CPUs", n)}
		o.Note(ev.Source, ev.Excerpt, nil)
	}
	if quota, period, src, found := cg.cpuQuota(env); found {
		if quota < 0 {
			o.Set("res.cpu_quota_millicores", -1)
		} else {
			o.Set("res.cpu_quota_millicores", quota*1000/period)
			o.Note(src, fmt.Sprintf("CFS quota %d/%d us", quota, period), nil)
			if q := QuotaCPUs(quota, period); q < usable {
				usable = q
				ev = probes.Evidence{Source: src, Excerpt: fmt.Sprintf("CFS quota %d/%d us", quota, period)}
			}
		}
	}
	o.Set("res.cpus", usable)
	if usable < 2 {
		o.Find(CodeFewCPUs, fmt.Sprintf("%d usable CPU (%d online)", usable, online), ev)
	}
}

func memory(env *probes.Env, o *probes.Observation, cg cgroupView) {
	b, err := fs.ReadFile(env.Root, "proc/meminfo")
	var mi map[string]int64
	if err == nil {
		mi, err = ParseMeminfo(bytes.NewReader(b))
	}
	if err != nil {
		o.Note("/proc/meminfo", "", err)
	}
	total, haveTotal := mi["MemTotal"]
	if haveTotal {
		o.Set("res.memory_total_bytes", total)
	}
	if swap, ok := mi["SwapTotal"]; ok {
		o.Set("res.swap_bytes", swap)
		if swap > 0 {
			o.Find(CodeSwap, fmt.Sprintf("%s of swap", gibText(swap)),
				probes.Evidence{Source: "/proc/meminfo", Excerpt: fmt.Sprintf("SwapTotal: %d kB", swap/kib)})
		}
	}
	usable, src := total, "/proc/meminfo"
	excerpt := fmt.Sprintf("MemTotal: %d kB", total/kib)
	if limit, lsrc, found := cg.memoryLimit(env); found {
		o.Set("res.memory_limit_bytes", limit)
		if limit >= 0 {
			o.Note(lsrc, fmt.Sprintf("cgroup memory limit %d", limit), nil)
			if !haveTotal || limit < usable {
				usable, src, excerpt = limit, lsrc, strconv.FormatInt(limit, 10)
				haveTotal = true
			}
		}
	}
	if !haveTotal {
		return
	}
	o.Set("res.memory_bytes", usable)
	o.Note(src, excerpt, nil)
	switch {
	case !MeetsMemory(usable, ControlPlaneMemory):
		o.Find(CodeNoMemory, gibText(usable)+" of memory", probes.Evidence{Source: src, Excerpt: excerpt})
	case !MeetsMemory(usable, WorkerMemory):
		o.Find(CodeNoWorkerMemory, gibText(usable)+" of memory", probes.Evidence{Source: src, Excerpt: excerpt})
	case !MeetsMemory(usable, lowMemory):
		o.Find(CodeLowMemory, gibText(usable)+" of memory", probes.Evidence{Source: src, Excerpt: excerpt})
	}
}

func limits(env *probes.Env, o *probes.Observation) {
	b, err := fs.ReadFile(env.Root, "proc/self/limits")
	var ls map[string]Limit
	if err == nil {
		ls, err = ParseLimits(bytes.NewReader(b))
	}
	if err != nil {
		o.Note("/proc/self/limits", "", err)
		return
	}
	if l, ok := ls["Max processes"]; ok {
		o.Set("res.nproc", l.Soft)
		o.Set("res.nproc_hard", l.Hard)
	}
	l, ok := ls["Max open files"]
	if !ok {
		o.Note("/proc/self/limits", "no \"Max open files\" row", nil)
		return
	}
	o.Set("res.nofile", l.Soft)
	o.Set("res.nofile_hard", l.Hard)
	excerpt := fmt.Sprintf("Max open files %s %s", limitText(l.Soft), limitText(l.Hard))
	o.Note("/proc/self/limits", excerpt, nil)
	if l.Soft >= 0 && l.Soft < minNofile {
		o.FindFix(CodeLowNofile, fmt.Sprintf("open-file limit %s (hard %s)", limitText(l.Soft), limitText(l.Hard)),
			probes.Evidence{Source: "/proc/self/limits", Excerpt: excerpt}, nofileFix(l.Hard))
	}
}

// nofileFix raises the soft limit as far as the hard one allows; raising
// the hard limit needs CAP_SYS_RESOURCE, which sandboxes rarely grant.
func nofileFix(hard int64) string {
	switch {
	case hard < 0 || hard >= 1048576:
		return "ulimit -n 1048576"
	case hard >= minNofile:
		return fmt.Sprintf("ulimit -n %d", hard)
	}
	return fmt.Sprintf("the hard limit is %d: start the sandbox with a higher one (docker run --ulimit nofile=1048576:1048576, or LimitNOFILE=1048576 in its systemd unit); raising it from inside needs CAP_SYS_RESOURCE", hard)
}

func limitText(n int64) string {
	if n < 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}

// dataDir statfs(2)s the data dir, or its nearest existing ancestor when
// the engine has not created it yet.
func dataDir(env *probes.Env, o *probes.Observation) {
	dir := path.Clean("/" + env.DataDir)
	if env.DataDir == "" {
		dir = probes.DefaultDataDir
	}
	for {
		rel := strings.TrimPrefix(dir, "/")
		if rel == "" {
			rel = "."
		}
		_, err := fs.Stat(env.Root, rel)
		if err == nil || dir == "/" {
			st, serr := env.Sys.Statfs(dir)
			if serr != nil {
				o.Note("statfs("+dir+")", "", serr)
				return
			}
			free := int64(st.Bavail) * st.Bsize
			if st.Bavail > uint64(1<<63-1)/uint64(max(st.Bsize, 1)) {
				free = 1<<63 - 1
			}
			o.Set("res.datadir_free_bytes", free)
			o.Note("statfs("+dir+")", fmt.Sprintf("%s available", gibText(free)), nil)
			return
		}
		if probes.Errno(err) != "ENOENT" {
			o.Note(dir, "", err)
		}
		dir = path.Dir(dir)
	}
}

// cgroupView is /proc/self/cgroup plus where the hierarchies are mounted.
type cgroupView struct {
	paths map[string]string // controller ("" for v2) -> cgroup path
}

func readCgroups(env *probes.Env, o *probes.Observation) cgroupView {
	b, err := fs.ReadFile(env.Root, "proc/self/cgroup")
	if err != nil {
		o.Note("/proc/self/cgroup", "", err)
		return cgroupView{}
	}
	p, _ := CgroupPaths(bytes.NewReader(b))
	return cgroupView{paths: p}
}

// dirs lists the directories of our cgroup for a v1 controller (under each
// of its usual mount points) or for v2 (controller ""), leaf first and up
// to the mount root. A container without a cgroup namespace sees a path
// that does not exist under its mount (the mount is its own cgroup): then
// only the mount root.
func (c cgroupView) dirs(env *probes.Env, controller string, mounts ...string) []string {
	p, ok := c.paths[controller]
	if !ok {
		return nil
	}
	for _, m := range mounts {
		if _, err := fs.Stat(env.Root, m); err != nil {
			continue
		}
		leaf := path.Join(m, p)
		if _, err := fs.Stat(env.Root, leaf); err != nil {
			return []string{m}
		}
		var out []string
		for d := leaf; ; d = path.Dir(d) {
			out = append(out, d)
			if d == m || !strings.HasPrefix(d, m+"/") {
				break
			}
		}
		return out
	}
	return nil
}

// v2Dirs is dirs for the unified hierarchy, only when it is the main one
// (a hybrid's /sys/fs/cgroup/unified holds no cpu or memory controller).
func (c cgroupView) v2Dirs(env *probes.Env) []string {
	if _, err := fs.Stat(env.Root, "sys/fs/cgroup/cgroup.controllers"); err != nil {
		return nil
	}
	return c.dirs(env, "", "sys/fs/cgroup")
}

func readTrim(env *probes.Env, p string) (string, bool) {
	b, err := fs.ReadFile(env.Root, p)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// cpuset returns how many CPUs the innermost non-empty cpuset allows.
func (c cgroupView) cpuset(env *probes.Env) (int, string) {
	var files []string
	for _, d := range c.v2Dirs(env) {
		files = append(files, d+"/cpuset.cpus.effective")
	}
	for _, d := range c.dirs(env, "cpuset", "sys/fs/cgroup/cpuset") {
		files = append(files, d+"/cpuset.effective_cpus", d+"/cpuset.cpus")
	}
	for _, f := range files {
		if s, ok := readTrim(env, f); ok && s != "" {
			if n, err := ParseCPUList(s); err == nil {
				return n, "/" + f
			}
		}
	}
	return 0, ""
}

// cpuQuota returns the tightest CFS quota on our cgroup and its ancestors;
// quota is -1 when files were read but none sets a quota.
func (c cgroupView) cpuQuota(env *probes.Env) (quota, period int64, src string, found bool) {
	quota = -1
	consider := func(q, p int64, f string) {
		found = true
		if q > 0 && p > 0 && (quota < 0 || q*1000/p < quota*1000/period) {
			quota, period, src = q, p, f
		}
	}
	for _, d := range c.v2Dirs(env) {
		if s, ok := readTrim(env, d+"/cpu.max"); ok {
			if q, p, err := ParseCPUMax(s); err == nil {
				consider(q, p, "/"+d+"/cpu.max")
			}
		}
	}
	for _, d := range c.dirs(env, "cpu", "sys/fs/cgroup/cpu", "sys/fs/cgroup/cpu,cpuacct") {
		qs, ok1 := readTrim(env, d+"/cpu.cfs_quota_us")
		ps, ok2 := readTrim(env, d+"/cpu.cfs_period_us")
		if !ok1 || !ok2 {
			continue
		}
		q, err1 := strconv.ParseInt(qs, 10, 64)
		p, err2 := strconv.ParseInt(ps, 10, 64)
		if err1 == nil && err2 == nil {
			consider(q, p, "/"+d+"/cpu.cfs_quota_us")
		}
	}
	return quota, period, src, found
}

// memoryLimit returns the tightest memory limit on our cgroup and its
// ancestors; -1 when files were read but none sets a limit.
func (c cgroupView) memoryLimit(env *probes.Env) (limit int64, src string, found bool) {
	limit = -1
	consider := func(v int64, f string) {
		found = true
		if v >= 0 && v < unlimitedMem && (limit < 0 || v < limit) {
			limit, src = v, f
		}
	}
	for _, d := range c.v2Dirs(env) {
		if s, ok := readTrim(env, d+"/memory.max"); ok {
			if s == "max" {
				consider(-1, "")
			} else if v, err := strconv.ParseInt(s, 10, 64); err == nil {
				consider(v, "/"+d+"/memory.max")
			}
		}
	}
	for _, d := range c.dirs(env, "memory", "sys/fs/cgroup/memory") {
		if s, ok := readTrim(env, d+"/memory.limit_in_bytes"); ok {
			if v, err := strconv.ParseInt(s, 10, 64); err == nil {
				consider(v, "/"+d+"/memory.limit_in_bytes")
			}
		}
	}
	return limit, src, found
}
