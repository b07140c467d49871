package launch

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

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
