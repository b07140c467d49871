package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/redact"
)

// maxFile bounds one copied file; probes read small kernel files.
const maxFile = 1 << 20

// acpiHeader is the length of an ACPI table header.
const acpiHeader = 36

// copyTree copies the recorded paths from liveRoot into dst: directories
// with a placeholder per entry, files with their (redacted) content, and
// namespace links as links. Paths that could not be read are recorded in
// errors.json with their errno, so a replay fails the same way.
func copyTree(liveRoot, dst string, paths []string, red *redact.Redactor) error {
	errs := map[string]string{}
	for _, p := range paths {
		if p == "." || strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
			continue
		}
		src := filepath.Join(liveRoot, p)
		out := filepath.Join(dst, p)
		li, err := os.Lstat(src)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs[p] = probes.ErrorText(err)
			}
			continue
		}
		if li.Mode()&fs.ModeSymlink != 0 {
			if target, err := os.Readlink(src); err == nil && isMagicLink(target) {
				_ = os.MkdirAll(filepath.Dir(out), 0o755)
				_ = os.Remove(out)
				if err := os.Symlink(target, out); err != nil {
					return err
				}
				continue
			}
		}
		fi, err := os.Stat(src)
		if err != nil {
			errs[p] = probes.ErrorText(err)
			continue
		}
		if fi.IsDir() {
			if err := copyDirListing(src, out); err != nil {
				errs[p] = probes.ErrorText(err)
			}
			continue
		}
		if !fi.Mode().IsRegular() {
			// A device or socket: its presence is what a probe saw.
			if err := placeholder(out); err != nil {
				return err
			}
			continue
		}
		data, err := readLimited(src)
		if err != nil {
			errs[p] = probes.ErrorText(err)
			if err := placeholder(out); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(p, "sys/firmware/acpi/tables/") && len(data) >= acpiHeader {
			// Keep only the standard ACPI table header: signature and OEM
			// IDs name the hypervisor; the body can carry serial numbers.
			data = data[:acpiHeader]
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return err
			}
			continue
		}
		if strings.HasSuffix(p, ".gz") || !utf8.Valid(data) {
			// Binary files (/proc/config.gz): probes only look for them.
			if err := placeholder(out); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out, []byte(redactFile(p, string(data), red)), 0o644); err != nil {
			return err
		}
	}
	if err := keepEmptyDirs(dst); err != nil {
		return err
	}
	if len(errs) == 0 {
		return nil
	}
	data, _ := json.MarshalIndent(errs, "", "  ")
	return os.WriteFile(filepath.Join(filepath.Dir(dst), "errors.json"), append(data, '\n'), 0o644)
}

// KeepFile marks a directory that was empty when captured: git keeps no
// empty directory, and "/var/lib/kubelet exists" is a fact. Replays hide it.
const KeepFile = ".kprobe-keep"

func keepEmptyDirs(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			return os.WriteFile(filepath.Join(p, KeepFile), nil, 0o644)
		}
		return nil
	})
}

// isMagicLink matches /proc links such as "net:[4026531840]".
func isMagicLink(target string) bool {
	return strings.Contains(target, ":[") || strings.HasPrefix(target, "anon_inode:")
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxFile))
}

func placeholder(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return nil
	}
	return os.WriteFile(path, nil, 0o644)
}

// copyDirListing recreates a directory with one placeholder per entry.
func copyDirListing(src, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		s, o := filepath.Join(src, e.Name()), filepath.Join(out, e.Name())
		if _, err := os.Lstat(o); err == nil {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			if target, err := os.Readlink(s); err == nil && isMagicLink(target) {
				if err := os.Symlink(target, o); err != nil {
					return err
				}
				continue
			}
			if fi, err := os.Stat(s); err == nil && fi.IsDir() {
				if err := os.Mkdir(o, 0o755); err != nil {
					return err
				}
				continue
			}
		}
		if e.IsDir() {
			if err := os.Mkdir(o, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(o, nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

var hexAddrRe = regexp.MustCompile(`\b([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4})\b`)

// redactFile redacts a copied file. /proc/net tables carry addresses in
// hex, which the text redactor cannot see.
func redactFile(path, data string, red *redact.Redactor) string {
	if strings.HasPrefix(path, "proc/") && strings.Contains(path, "/net/") {
		base := filepath.Base(path)
		switch {
		case strings.HasPrefix(base, "tcp"), strings.HasPrefix(base, "udp"):
			return hexAddrRe.ReplaceAllStringFunc(data, hexAddr)
		case base == "route":
			return redactRoute(data)
		}
	}
	return red.String(data)
}

func hexAddr(s string) string {
	addr, port, _ := strings.Cut(s, ":")
	switch {
	case strings.Trim(addr, "0") == "": // any
	case len(addr) == 8 && strings.HasSuffix(addr, "7F"): // 127.x
	case addr == "00000000000000000000000001000000": // ::1
	case len(addr) == 8:
		addr = "010200C0" // 192.0.2.1
	default:
		addr = "B80D0120000000000000000001000000" // 2001:db8::1
	}
	return addr + ":" + port
}

// redactRoute replaces non-zero destinations and gateways in
// /proc/net/route (little-endian hex) by TEST-NET-1 addresses.
func redactRoute(data string) string {
	lines := strings.Split(data, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if i == 0 || len(f) < 8 {
			continue
		}
		for _, col := range []int{1, 2} {
			if f[col] != "00000000" {
				f[col] = fmt.Sprintf("%02X0200C0", col)
			}
		}
		lines[i] = strings.Join(f, "\t")
	}
	return strings.Join(lines, "\n")
}
