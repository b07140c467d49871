package identity

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Mount is the part of a /proc/self/mountinfo line identity looks at.
//
// moby/sys/mountinfo's GetMountsFromReader is built for Linux only; this
// parser is portable so that captured trees replay on any OS.
type Mount struct {
	Root    string // path inside the mounted filesystem ("/" unless a bind of a subdirectory)
	Point   string // mount point
	FSType  string // "ext4", "overlay", "9p", "fuse.lxcfs"
	Source  string // "/dev/vda", "overlay"
	Options string // per-superblock options ("lowerdir=...")
}

// ParseMountinfo parses /proc/<pid>/mountinfo (proc(5)). Lines that do
// not have the documented shape are an error naming the line; the mounts
// parsed so far are returned with it.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			return out, fmt.Errorf("mountinfo line %d: %q has no \" - fstype source\" part", n, line)
		}
		m := Mount{Root: unescape(f[3]), Point: unescape(f[4]), FSType: f[sep+1]}
		if sep+2 < len(f) {
			m.Source = unescape(f[sep+2])
		}
		if sep+3 < len(f) {
			m.Options = f[sep+3]
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescape undoes the kernel's octal escapes (\040 for a space) in
// mountinfo paths.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && '0' <= s[i+1] && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// RootMount returns the mount visible at "/": the last one listed there.
func RootMount(ms []Mount) (Mount, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Point == "/" {
			return ms[i], true
		}
	}
	return Mount{}, false
}

// ParseCgroupPaths returns the paths of /proc/<pid>/cgroup lines
// ("4:memory:/docker/abc" gives "/docker/abc").
func ParseCgroupPaths(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			out = append(out, parts[2])
		}
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
