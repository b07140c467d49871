package podnode

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times on every Linux
// architecture Go supports.
const clockTicks = 100

// statsSummary builds the kubelet's summary API from /proc: the node's CPU
// and memory, and per pod and container the CPU time and resident memory
// of its process trees.
func statsSummary(nodeName string, runs []*podRun, now time.Time) *statsv1alpha1.Summary {
	ts := metav1.NewTime(now)
	procs := readProcs()
	s := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: nodeName, StartTime: ts}}
	if cpu := nodeCPUNanos(); cpu > 0 {
		s.Node.CPU = &statsv1alpha1.CPUStats{Time: ts, UsageCoreNanoSeconds: &cpu}
	}
	total, avail := uint64(meminfo("MemTotal"))*1024, uint64(meminfo("MemAvailable"))*1024
	if total > 0 {
		used := total - avail
		s.Node.Memory = &statsv1alpha1.MemoryStats{Time: ts, AvailableBytes: &avail, UsageBytes: &used, WorkingSetBytes: &used}
	}
	for _, r := range runs {
		pod := r.snapshot()
		ps := statsv1alpha1.PodStats{
			PodRef:    statsv1alpha1.PodReference{Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID)},
			StartTime: r.started,
		}
		var podCPU, podMem uint64
		for _, c := range r.ctrs {
			c.mu.Lock()
			p := c.proc
			c.mu.Unlock()
			if p == nil {
				continue
			}
			cpu, mem := procs.tree(p.pid())
			podCPU += cpu
			podMem += mem
			cs := statsv1alpha1.ContainerStats{Name: c.spec.Name, StartTime: ts,
				CPU:    &statsv1alpha1.CPUStats{Time: ts, UsageCoreNanoSeconds: &cpu},
				Memory: &statsv1alpha1.MemoryStats{Time: ts, WorkingSetBytes: &mem, RSSBytes: &mem, UsageBytes: &mem}}
			ps.Containers = append(ps.Containers, cs)
		}
		ps.CPU = &statsv1alpha1.CPUStats{Time: ts, UsageCoreNanoSeconds: &podCPU}
		ps.Memory = &statsv1alpha1.MemoryStats{Time: ts, WorkingSetBytes: &podMem, RSSBytes: &podMem, UsageBytes: &podMem}
		s.Pods = append(s.Pods, ps)
	}
	return s
}

type procInfo struct {
	ppid     int
	cpuNanos uint64
	rss      uint64
}

type procTable map[int]procInfo

// readProcs reads every process's parent, CPU time and RSS.
func readProcs() procTable {
	t := procTable{}
	ents, _ := os.ReadDir("/proc")
	page := uint64(os.Getpagesize())
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 22 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseUint(f[11], 10, 64)
		st, _ := strconv.ParseUint(f[12], 10, 64)
		rss, _ := strconv.ParseUint(f[21], 10, 64)
		t[pid] = procInfo{ppid: ppid, cpuNanos: (ut + st) * uint64(time.Second) / clockTicks, rss: rss * page}
	}
	return t
}

// tree sums CPU time and RSS of pid and its descendants.
func (t procTable) tree(pid int) (cpu, mem uint64) {
	children := map[int][]int{}
	for p, info := range t {
		children[info.ppid] = append(children[info.ppid], p)
	}
	stack := []int{pid}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if info, ok := t[p]; ok {
			cpu += info.cpuNanos
			mem += info.rss
		}
		stack = append(stack, children[p]...)
	}
	return cpu, mem
}

// nodeCPUNanos is the CPU time used by the whole sandbox (all CPUs, not idle).
func nodeCPUNanos() uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var busy uint64
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += n
	}
	return busy * uint64(time.Second) / clockTicks
}
