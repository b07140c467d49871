package supervise

import (
	"os"
	"strconv"
	"strings"
)

// StartTick reads a process's start time (clock ticks since boot) from
// /proc/PID/stat; 0 when the process does not exist.
func StartTick(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// Fields after the command: state is f[0], starttime is field 22
	// overall, f[19] here.
	if len(f) < 20 || f[0] == "Z" {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// SameProcess reports whether pid still names the process that started
// at tick.
func SameProcess(pid int, tick uint64) bool {
	return pid > 0 && tick != 0 && StartTick(pid) == tick
}
