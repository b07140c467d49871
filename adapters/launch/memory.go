package launch

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// ProcessRSS is the resident memory of one of the cluster's processes, as
// `kprobe status` shows it.
type ProcessRSS struct {
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	RSSKiB int64  `json:"rssKiB"`
}

// ResidentKiB is a process's resident memory (VmRSS of /proc/PID/status)
// in KiB; ok is false when it is gone or has none (a zombie).
func ResidentKiB(pid int) (kib int64, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, found := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !found {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// memory measures the supervisor and every running component.
func memory(supervisorPID int, procs []ProcessRSS) []ProcessRSS {
	var out []ProcessRSS
	for _, p := range append([]ProcessRSS{{Name: "supervisor", PID: supervisorPID}}, procs...) {
		if kib, ok := ResidentKiB(p.PID); ok && p.PID > 0 {
			p.RSSKiB = kib
			out = append(out, p)
		}
	}
	return out
}

// MemoryLine sums the resident memory for `kprobe status`: "memory (RSS,
// MiB) 612: kube-apiserver 290, etcd 57, ...", largest first.
func MemoryLine(m []ProcessRSS) string {
	if len(m) == 0 {
		return ""
	}
	sorted := append([]ProcessRSS(nil), m...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].RSSKiB > sorted[j].RSSKiB })
	var total int64
	parts := make([]string, 0, len(sorted))
	for _, p := range sorted {
		total += p.RSSKiB
		parts = append(parts, fmt.Sprintf("%s %d", p.Name, p.RSSKiB>>10))
	}
	return fmt.Sprintf("memory (RSS, MiB) %d: %s", total>>10, strings.Join(parts, ", "))
}
