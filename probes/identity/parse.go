package identity

import (
	"strings"

	"github.com/kprobe/kprobe/probes/procfs"
)

// ParseCgroupPaths returns the paths of /proc/<pid>/cgroup lines
// ("4:memory:/docker/abc" gives "/docker/abc").
func ParseCgroupPaths(text string) []string {
	ms, _ := procfs.ParseCgroup(strings.NewReader(text))
	var out []string
	for _, m := range ms {
		out = append(out, m.Path)
	}
	return out
}

// CPUHypervisor reports whether /proc/cpuinfo text has the "hypervisor"
// CPU flag, and whether it had a flags line at all (arm64 has none).
func CPUHypervisor(cpuinfo string) (hypervisor, hasFlags bool) {
	for _, line := range strings.Split(cpuinfo, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		hasFlags = true
		for _, fl := range strings.Fields(val) {
			if fl == "hypervisor" {
				return true, true
			}
		}
	}
	return false, hasFlags
}

// ParseEnviron splits NUL-separated KEY=value text (/proc/<pid>/environ)
// or a []string environment into a map.
func ParseEnviron(kv []string) map[string]string {
	out := map[string]string{}
	for _, e := range kv {
		k, v, ok := strings.Cut(e, "=")
		if ok && k != "" {
			out[k] = v
		}
	}
	return out
}

// FilesystemListed reports whether /proc/filesystems text lists name.
func FilesystemListed(text, name string) bool {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// ACPIOEMID returns the OEM ID of an ACPI table (bytes 10-15 of its
// header: "FIRECK" for Firecracker, "BOCHS" for QEMU), or "" when b is
// too short to be a table.
func ACPIOEMID(b []byte) string {
	if len(b) < 36 {
		return ""
	}
	return strings.TrimRight(string(b[10:16]), " \x00")
}
