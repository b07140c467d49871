package soak

import (
	"os"
	"strconv"
)

// readRSS is a process's resident memory in KiB.
func readRSS(pid int) (int64, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	return parseVmRSS(data)
}

// procScan is one walk over /proc.
type procScan struct {
	Shims    int
	ShimsRSS int64
	// PodPIDs are the processes in each pod's cgroup, for the UIDs asked.
	PodPIDs map[string][]int
	// AnyPod is set when some process is in some pod's cgroup at all.
	AnyPod bool
}

// scanProcs counts the shims whose address ours accepts and, when uids is
// not nil, finds the processes in those pods' cgroups.
func scanProcs(ours func(addr string) bool, uids map[string]bool) procScan {
	var s procScan
	s.PodPIDs = map[string][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := "/proc/" + e.Name()
		if cmd, err := os.ReadFile(dir + "/cmdline"); err == nil {
			if addr, shim := shimAddress(cmd); shim && ours(addr) {
				s.Shims++
				if kib, ok := readRSS(pid); ok {
					s.ShimsRSS += kib
				}
			}
		}
		if uids == nil {
			continue
		}
		cg, err := os.ReadFile(dir + "/cgroup")
		if err != nil {
			continue
		}
		if uid := podUID(cg); uid != "" {
			s.AnyPod = true
			if uids[uid] {
				s.PodPIDs[uid] = append(s.PodPIDs[uid], pid)
			}
		}
	}
	return s
}

// cmdline is a process's command line for a leak message.
func cmdline(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	for i, b := range data {
		if b == 0 {
			data[i] = ' '
		}
	}
	if len(data) > 80 {
		data = data[:80]
	}
	return string(data)
}
