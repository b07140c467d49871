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

// ShortVersion picks the version number of a version line, without build
// suffixes: "v1.32.4" from "Client Version: v1.32.4-dispatcher", "1.1.5"
// from "runc version 1.1.5+ds1", "1.6.20" from "containerd
// github.com/containerd/containerd 1.6.20~ds1"; "" when the line has none.
func ShortVersion(line string) string {
	for _, f := range strings.Fields(line) {
		v := strings.TrimPrefix(f, "v")
		if v == "" || v[0] < '0' || v[0] > '9' {
			continue
		}
		// Debian's repack suffix ("~ds1") goes too, its dated snapshots
		// ("0.0~20221219.0") stay.
		cut := strings.IndexAny(v, "+-,")
		if i := strings.Index(v, "~"); i > 0 && i+1 < len(v) && (v[i+1] < '0' || v[i+1] > '9') && (cut < 0 || i < cut) {
			cut = i
		}
		if cut > 0 {
			f = f[:len(f)-len(v)+cut]
		}
		return f
	}
	return ""
}

func leadingDigits(s string) string {
	for i, r := range s {
		if r < '0' || r > '9' {
			return s[:i]
		}
	}
	return s
}
