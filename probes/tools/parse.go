package tools

import (
	"strconv"
	"strings"
)

// maxVersionLen bounds a recorded version line.
const maxVersionLen = 200

// FirstLine returns the first non-empty line of a command's output,
// trimmed and bounded.
func FirstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(line) > maxVersionLen {
			line = line[:maxVersionLen]
		}
		return line
	}
	return ""
}

// VersionLine picks the version line of a tool's output: the first line
// that names the tool, else the first line. fuse-overlayfs prints
// "fusermount3 version: 3.14.0" before its own.
func VersionLine(name, out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(strings.ToLower(line), name) {
			return FirstLine(line)
		}
	}
	return FirstLine(out)
}

// OldIptables reports whether an `iptables --version` line names 1.8.0 to
// 1.8.4, the releases k3s' known issues say accumulate duplicate rules
// (k3s-io/k3s#3117).
func OldIptables(line string) bool {
	f := strings.Fields(line)
	if len(f) < 2 || !strings.Contains(f[0], "tables") {
		return false
	}
	v, ok := strings.CutPrefix(f[1], "v")
	if !ok {
		return false
	}
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 3 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	min, err2 := strconv.Atoi(parts[1])
	patch, err3 := strconv.Atoi(leadingDigits(parts[2]))
	if err1 != nil || err2 != nil || err3 != nil {
		return false
	}
	return maj == 1 && min == 8 && patch <= 4
}

func leadingDigits(s string) string {
	for i, r := range s {
		if r < '0' || r > '9' {
			return s[:i]
		}
	}
	return s
}
