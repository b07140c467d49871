package soak

import (
	"bufio"
	"bytes"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// parseVmRSS reads the VmRSS line of /proc/PID/status, in KiB. Kernel
// threads and zombies have none: ok is false.
func parseVmRSS(status []byte) (kib int64, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, "VmRSS:")
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

// shimAddress says whether /proc/PID/cmdline is a containerd shim's and
// returns the containerd address it serves (its -address flag).
func shimAddress(cmdline []byte) (addr string, shim bool) {
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
		return "", false
	}
	for i, a := range args {
		if (a == "-address" || a == "--address") && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "-address="); ok {
			return v, true
		}
	}
	return "", true
}

// podCgroup matches a pod's cgroup directory as the kubelet names it:
// pod<uid> with the cgroupfs driver, pod<uid with _ for -> with systemd.
var podCgroup = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})`)

// podUID returns the UID of the pod whose cgroup a process is in, from
// /proc/PID/cgroup (v1 or v2, inside a cgroup namespace or not), or "".
func podUID(cgroup []byte) string {
	m := podCgroup.FindSubmatch(cgroup)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(string(m[1]), "_", "-")
}
