//go:build linux

package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

var errAddrInUse = syscall.EADDRINUSE

// holder names the process listening on a TCP port, when /proc tells.
func holder(port int) string {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n")[1:] {
			x := strings.Fields(l)
			if len(x) < 10 || x[3] != "0A" {
				continue
			}
			i := strings.LastIndexByte(x[1], ':')
			if p, err := strconv.ParseUint(x[1][i+1:], 16, 16); err == nil && int(p) == port {
				inodes["socket:["+x[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return ""
	}
	pids, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range pids {
		if t, err := os.Readlink(fd); err == nil && inodes[t] {
			pid := strings.Split(fd, "/")[2]
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			return fmt.Sprintf(" by %s (pid %s)", strings.TrimSpace(string(comm)), pid)
		}
	}
	return ""
}
