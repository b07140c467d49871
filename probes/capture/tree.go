package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/bounded"
	"github.com/kprobe/kprobe/probes/redact"
)

// acpiHeader is the length of an ACPI table header.
const acpiHeader = 36

// treeDir is the directory of a capture that holds the copied files.
const treeDir = "root"

// copyTree copies the recorded paths from liveRoot into the capture out,
// under treeDir: directories with a placeholder per entry, files with
// their (redacted) content, and namespace links as links. Paths that could
// not be read are recorded in errors.json with their errno, so a replay
// fails the same way.
func copyTree(liveRoot string, out *os.Root, paths []string, red *redact.Redactor) error {
	if err := out.Mkdir(treeDir, 0o755); err != nil {
		return err
	}
	errs := map[string]string{}
	for _, p := range paths {
		if p == "." || !fs.ValidPath(p) {
			continue
		}
		src := filepath.Join(liveRoot, p)
		dst := path.Join(treeDir, p)
		li, err := os.Lstat(src)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs[p] = probes.ErrorText(err)
			}
			continue
		}
		if li.Mode()&fs.ModeSymlink != 0 {
			if target, err := os.Readlink(src); err == nil && isMagicLink(target) {
				if err := out.MkdirAll(path.Dir(dst), 0o755); err != nil {
					return err
				}
				if _, err := out.Lstat(dst); err == nil {
					continue // already there as an entry of a listed directory
				}
				if err := out.Symlink(target, dst); err != nil {
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
			if err := copyDirListing(src, out, dst); err != nil {
				errs[p] = probes.ErrorText(err)
			}
			continue
		}
		if !fi.Mode().IsRegular() {
			// A device or socket: its presence is what a probe saw.
			if err := placeholder(out, dst); err != nil {
				return err
			}
			continue
		}
		data, err := bounded.ReadFile(src, bounded.Limit(p))
		if err != nil {
			errs[p] = probes.ErrorText(err)
			if err := placeholder(out, dst); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(p, "sys/firmware/acpi/tables/") && len(data) >= acpiHeader {
			// Keep only the standard ACPI table header: signature and OEM
			// IDs name the hypervisor; the body can carry serial numbers.
			if err := writeFile(out, dst, data[:acpiHeader]); err != nil {
				return err
			}
			continue
		}
		if strings.HasSuffix(p, ".gz") || !utf8.Valid(data) {
			// Binary files (/proc/config.gz): probes only look for them.
			if err := placeholder(out, dst); err != nil {
				return err
			}
			continue
		}
		if err := writeFile(out, dst, []byte(redactFile(p, string(data), red))); err != nil {
			return err
		}
	}
	if err := keepEmptyDirs(out); err != nil {
		return err
	}
	if len(errs) == 0 {
		return nil
	}
	data, _ := json.MarshalIndent(errs, "", "  ")
	return writeNew(out, "errors.json", append(data, '\n'))
}

// writeFile writes a copied file, replacing the placeholder a directory
// listing left for it. Only a placeholder is replaced: an empty regular
// file this capture wrote.
func writeFile(out *os.Root, name string, data []byte) error {
	if fi, err := out.Lstat(name); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		if err := out.Remove(name); err != nil {
			return err
		}
	}
	return writeNew(out, name, data)
}

// KeepFile marks a directory that was empty when captured: git keeps no
// empty directory, and "/var/lib/kubelet exists" is a fact. Replays hide it.
const KeepFile = ".kprobe-keep"

func keepEmptyDirs(out *os.Root) error {
	return fs.WalkDir(out.FS(), treeDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		ents, err := fs.ReadDir(out.FS(), p)
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			return writeNew(out, path.Join(p, KeepFile), nil)
		}
		return nil
	})
}

// isMagicLink matches /proc links such as "net:[4026531840]".
func isMagicLink(target string) bool {
	return strings.Contains(target, ":[") || strings.HasPrefix(target, "anon_inode:")
}

func placeholder(out *os.Root, name string) error {
	if _, err := out.Lstat(name); err == nil {
		return nil
	}
	return writeNew(out, name, nil)
}

// copyDirListing recreates a directory with one placeholder per entry.
func copyDirListing(src string, out *os.Root, dst string) error {
	if err := out.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		s, o := filepath.Join(src, e.Name()), path.Join(dst, e.Name())
		if _, err := out.Lstat(o); err == nil {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			if target, err := os.Readlink(s); err == nil && isMagicLink(target) {
				if err := out.Symlink(target, o); err != nil {
					return err
				}
				continue
			}
			if fi, err := os.Stat(s); err == nil && fi.IsDir() {
				if err := out.Mkdir(o, 0o755); err != nil {
					return err
				}
				continue
			}
		}
		if e.IsDir() {
			if err := out.Mkdir(o, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := writeNew(out, o, nil); err != nil {
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
		addr = "010000F0" // 240.0.0.1, the redactor's placeholder range
	default:
		addr = "00000001000000000000000001000000" // 100::1, likewise
	}
	return addr + ":" + port
}

// redactRoute replaces non-zero destinations and gateways in
// /proc/net/route (little-endian hex) by placeholder addresses in
// 240.0.0.0/4, which no machine has.
func redactRoute(data string) string {
	lines := strings.Split(data, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if i == 0 || len(f) < 8 {
			continue
		}
		for _, col := range []int{1, 2} {
			if f[col] != "00000000" {
				f[col] = fmt.Sprintf("%02X0000F0", col)
			}
		}
		lines[i] = strings.Join(f, "\t")
	}
	return strings.Join(lines, "\n")
}
