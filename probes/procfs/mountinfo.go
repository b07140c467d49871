// Package procfs parses the kernel's /proc text formats portably.
//
// Probes read /proc through env.Root, and a capture of a sandbox is
// replayed by the same probes on any OS (a developer's macOS, CI). The
// parsers they use must therefore build everywhere, and
// github.com/moby/sys/mountinfo's reader (GetMountsFromReader) is built for
// Linux only. ParseMountinfo fills moby's portable Info struct so that probes
// share one mount type, one parser and one lookup (MountFor).
package procfs

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// MalformedError reports the lines of a mountinfo text ParseMountinfo
// skipped.
type MalformedError struct {
	Skipped int    // how many non-empty lines were skipped
	Line    int    // 1-based number of the first skipped line
	Reason  string // why it was skipped
	Text    string // the first skipped line, clipped
}

func (e *MalformedError) Error() string {
	s := fmt.Sprintf("mountinfo line %d: %s: %q", e.Line, e.Reason, e.Text)
	if e.Skipped > 1 {
		s += fmt.Sprintf(" (%d malformed lines skipped)", e.Skipped)
	}
	return s
}

// ParseMountinfo parses /proc/<pid>/mountinfo (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	(1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
//
// Every field of mountinfo.Info is filled; Root, Mountpoint, FSType and
// Source are unescaped as moby does (the kernel writes a space as \040).
// Super options (11) may be missing; a source (10) may be empty (the
// kernel then prints two spaces). A line that has not the documented shape
// (fewer than six fields before the "-" separator, no fstype or source
// after it, numbers that are not numbers, a mount point that is not
// absolute) is skipped: the mounts of the other lines are returned with a
// *MalformedError that counts the skipped lines and names the first. Callers
// that cannot trust a partial table treat any error as "unreadable".
func ParseMountinfo(r io.Reader) ([]*mountinfo.Info, error) {
	var out []*mountinfo.Info
	var bad *MalformedError
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text() // without its "\r" too
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, reason := parseLine(line)
		if reason != "" {
			if bad == nil {
				bad = &MalformedError{Line: n, Reason: reason, Text: clip(line)}
			}
			bad.Skipped++
			continue
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("mountinfo line %d: %w", n+1, err)
	}
	if bad != nil {
		return out, bad
	}
	return out, nil
}

// parseLine parses one line, or says why it cannot.
func parseLine(line string) (*mountinfo.Info, string) {
	// The kernel separates fields with one space and escapes spaces in
	// them, so an empty field (an empty source) is a field.
	f := strings.Split(line, " ")
	// Optional fields are "tag[:value]", never "-": the first "-" after
	// the six mandatory fields is the separator.
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	switch {
	case len(f) < 7:
		return nil, "too few fields"
	case sep < 0:
		return nil, `no " - " separator`
	case sep+2 >= len(f):
		return nil, "no filesystem type and source after the separator"
	case f[sep+1] == "":
		return nil, "empty filesystem type"
	}
	id, err1 := atoi(f[0])
	parent, err2 := atoi(f[1])
	maj, min, ok := strings.Cut(f[2], ":")
	major, err3 := atoi(maj)
	minor, err4 := atoi(min)
	switch {
	case err1 != nil || err2 != nil:
		return nil, "mount or parent ID is not a number"
	case !ok || err3 != nil || err4 != nil:
		return nil, "major:minor is not two numbers"
	}
	m := &mountinfo.Info{
		ID:         id,
		Parent:     parent,
		Major:      major,
		Minor:      minor,
		Root:       unescape(f[3]),
		Mountpoint: unescape(f[4]),
		Options:    f[5],
		Optional:   strings.Join(f[6:sep], " "),
		FSType:     unescape(f[sep+1]),
		Source:     unescape(f[sep+2]),
	}
	if sep+3 < len(f) {
		// Linux <= 3.9 could leave spaces in a cifs "unc=" option.
		m.VFSOptions = strings.Join(f[sep+3:], " ")
	}
	if !strings.HasPrefix(m.Mountpoint, "/") {
		return nil, "mount point is not absolute"
	}
	return m, ""
}

func atoi(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err == nil && n < 0 {
		err = strconv.ErrRange
	}
	return n, err
}

// unescape undoes the kernel's octal escapes (\040 space, \011 tab, \012
// newline, \134 backslash, \043 hash) the way moby/sys/mountinfo does:
// \000 to \177; anything else stays as it is.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+3 < len(s) && (s[i+1] == '0' || s[i+1] == '1') && isOctal(s[i+2]) && isOctal(s[i+3]) {
			c = (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			i += 3
		}
		b = append(b, c)
	}
	return string(b)
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// Visible returns the mounts of a table that are not covered by another
// mount, in table order. A mount is covered when another one sits on its
// mount point or on a directory above it, so that lookups of its paths
// land in the other mount: a mount stacked on it (a descendant at the same
// mount point, in whatever order the lines come), or an unrelated mount
// that is newer (listed later: Linux lists mounts in the order they were
// made) and is not one of its ancestors. Example: runc's rootless spec binds
// the host's /sys with its /sys/fs/cgroup/unified (cgroup2), then mounts a
// tmpfs of its own on /sys/fs/cgroup; the cgroup2 line stays in mountinfo,
// but /sys/fs/cgroup/unified does not exist any more.
func Visible(mounts []*mountinfo.Info) []*mountinfo.Info {
	byID := make(map[int]*mountinfo.Info, len(mounts))
	for _, m := range mounts {
		if _, dup := byID[m.ID]; !dup {
			byID[m.ID] = m
		}
	}
	// ancestor reports whether a is on d's parent chain (bounded: a
	// garbled table may loop).
	ancestor := func(a, d *mountinfo.Info) bool {
		for i, cur := 0, d; i < len(mounts) && cur.Parent != cur.ID; i++ {
			p, ok := byID[cur.Parent]
			if !ok {
				return false
			}
			if p == a {
				return true
			}
			cur = p
		}
		return false
	}
	out := make([]*mountinfo.Info, 0, len(mounts))
	for i, m := range mounts {
		mp := path.Clean(m.Mountpoint)
		covered := false
		for j, n := range mounts {
			if j == i || !contains(path.Clean(n.Mountpoint), mp) {
				continue
			}
			switch {
			case ancestor(m, n): // stacked on m, or mounted inside it
				covered = path.Clean(n.Mountpoint) == mp
			case ancestor(n, m):
			default:
				covered = j > i
			}
			if covered {
				break
			}
		}
		if !covered {
			out = append(out, m)
		}
	}
	return out
}

// MountFor returns the mount that holds the absolute path p: among the
// mounts not covered by another (Visible), the one with the longest mount
// point that contains p. p need not exist. It returns nil when no mount
// contains p (an empty or partial table).
func MountFor(mounts []*mountinfo.Info, p string) *mountinfo.Info {
	p = path.Clean("/" + p)
	var best *mountinfo.Info
	bestLen := -1
	for _, m := range Visible(mounts) {
		mp := path.Clean(m.Mountpoint)
		if !contains(mp, p) {
			continue
		}
		switch {
		case len(mp) > bestLen:
			best, bestLen = m, len(mp)
		case len(mp) == bestLen && best.Parent != m.ID:
			// Same mount point: a mount stacked on another names it as
			// its parent; otherwise the later line is the newer mount.
			best = m
		}
	}
	return best
}

func contains(mountpoint, p string) bool {
	return mountpoint == "/" || p == mountpoint || strings.HasPrefix(p, mountpoint+"/")
}
