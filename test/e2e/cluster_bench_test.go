package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters/launch"
)

// BenchmarkClusterT0 measures a single T0 node on this host as a user
// meets it (issue 17's goals): per iteration `kprobe launch --engine
// kubernetes` (DNS and storage included), then `kprobe stop --purge`.
// ns/op is the launch's wall time. Reported as medians over the
// iterations: api-s (kube-apiserver /readyz), node-ready-s and
// first-pod-s, each since the launch began. After the first iteration's
// launch `kprobe verify` runs (every check must pass) and then the
// resident memory of the cluster is read: every process whose command
// line names the data dir (the supervisor, the components, containerd's
// shims) and every descendant of those (the pods' processes), as
// cluster-MB (goal < 500) and per program as NAME-MB, the pods' as
// pods-MB.
//
//	sudo KPROBE_E2E=1 go test ./test/e2e -run '^$' -bench ClusterT0 -benchtime 5x -timeout 30m
func BenchmarkClusterT0(b *testing.B) {
	bin := benchKprobe(b)
	var api, node, pod []float64
	var mem map[string]int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dataDir := filepath.Join(b.TempDir(), "cluster")
		out, err := exec.Command(bin, "launch", "--engine", "kubernetes", "--data-dir", dataDir, "--output", "json").Output()
		b.StopTimer()
		var res launch.Result
		if err != nil || json.Unmarshal(out, &res) != nil || !res.Ready {
			_, _ = exec.Command(bin, "stop", "--purge", "--data-dir", dataDir).CombinedOutput()
			b.Fatalf("launch: %v: %s", err, out)
		}
		for _, t := range []struct {
			phase string
			into  *[]float64
		}{{"api", &api}, {"node", &node}, {"pod", &pod}} {
			ms, _ := res.Timing(t.phase)
			*t.into = append(*t.into, ms/1000)
		}
		if i == 0 {
			if out, err := exec.Command(bin, "verify", "--data-dir", dataDir).CombinedOutput(); err != nil {
				_, _ = exec.Command(bin, "stop", "--purge", "--data-dir", dataDir).CombinedOutput()
				b.Fatalf("verify: %v: %s", err, out)
			}
			mem = clusterTreeRSS(dataDir)
		}
		if out, err := exec.Command(bin, "stop", "--purge", "--data-dir", dataDir).CombinedOutput(); err != nil {
			b.Fatalf("stop: %v: %s", err, out)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(median(api), "api-s")
	b.ReportMetric(median(node), "node-ready-s")
	b.ReportMetric(median(pod), "first-pod-s")
	var total int64
	for name, rss := range mem {
		total += rss
		b.ReportMetric(float64(rss)/(1<<20), name+"-MB")
	}
	b.ReportMetric(float64(total)/(1<<20), "cluster-MB")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// clusterTreeRSS is VmRSS summed by program name over the processes
// whose command line names the data dir and, as "pods", over every
// other descendant of those (the containers' processes under the shims).
func clusterTreeRSS(dataDir string) map[string]int64 {
	total := map[string]int64{}
	for _, p := range clusterProcesses(dataDir) {
		name := "pods"
		if p.own {
			name = p.name
		}
		total[name] += vmRSS(p.pid)
	}
	return total
}

// clusterProcess is a process whose command line names the data dir
// (own) or that descends from one (a container's process).
type clusterProcess struct {
	pid  string
	name string
	own  bool
}

// clusterProcesses lists the cluster's processes from /proc, the
// benchmarks' one view of what a cluster runs.
func clusterProcesses(dataDir string) []clusterProcess {
	type proc struct {
		clusterProcess
		ppid int
	}
	procs := map[int]proc{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		status, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		p := proc{clusterProcess: clusterProcess{
			pid:  e.Name(),
			name: filepath.Base(strings.SplitN(string(cmd), "\x00", 2)[0]),
			own:  strings.Contains(string(cmd), dataDir),
		}}
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "PPid:"); ok {
				p.ppid, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		procs[pid] = p
	}
	// under reports whether pid descends from a process of the cluster.
	under := func(pid int) bool {
		for hops := 0; pid > 1 && hops < 64; hops++ {
			p, ok := procs[pid]
			if !ok {
				return false
			}
			if p.own {
				return true
			}
			pid = p.ppid
		}
		return false
	}
	var out []clusterProcess
	for _, p := range procs {
		if p.own || under(p.ppid) {
			out = append(out, p.clusterProcess)
		}
	}
	return out
}

// vmRSS is a process's VmRSS in bytes (0 once it is gone).
func vmRSS(pid string) int64 {
	status, _ := os.ReadFile(filepath.Join("/proc", pid, "status"))
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// benchKprobe is the kprobe a benchmark runs (KPROBE_BIN, else the
// repo's bin/kprobe); it skips unless KPROBE_E2E=1 as root.
func benchKprobe(b *testing.B) string {
	b.Helper()
	if os.Getenv("KPROBE_E2E") != "1" || os.Geteuid() != 0 {
		b.Skip("end-to-end: set KPROBE_E2E=1 as root after `make build engine images addons`")
	}
	bin, err := filepath.Abs(os.Getenv("KPROBE_BIN"))
	if os.Getenv("KPROBE_BIN") == "" {
		bin, err = filepath.Abs("../../bin/kprobe")
	}
	if err != nil {
		b.Fatal(err)
	}
	return bin
}
