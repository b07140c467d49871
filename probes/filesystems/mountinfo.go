package filesystems

import (
	"errors"
	"io/fs"
	"path"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// ParseMountinfo parses the text of /proc/<pid>/mountinfo with
// moby/sys/mountinfo, one line at a time, so that a garbled line costs that
// line and not the whole table. It returns the mounts it could parse, how
// many non-empty lines it skipped and the first parse error.
func ParseMountinfo(text string) (mounts []*mountinfo.Info, skipped int, firstErr error) {
	for line := range strings.SplitSeq(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseLine(line)
		if err == nil && !strings.HasPrefix(m.Mountpoint, "/") {
			err = errors.New("mount point is not absolute: " + clip(line))
		}
		if err != nil {
			skipped++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		mounts = append(mounts, m)
	}
	return mounts, skipped, firstErr
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// MountFor returns the mount that holds the absolute path p: the one with
// the longest mount point that contains p and, among mounts stacked on the
// same mount point, the top one. p need not exist. It returns nil when no
// mount contains p (an empty or partial table).
func MountFor(mounts []*mountinfo.Info, p string) *mountinfo.Info {
	p = path.Clean("/" + p)
	var best *mountinfo.Info
	bestLen := -1
	for _, m := range mounts {
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

// rel turns an absolute path into a path for an fs.FS rooted at "/".
func rel(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// NearestExisting returns the deepest existing path on the way from "/"
// to the absolute path p (p itself when it exists), as seen through fsys,
// and whether p itself exists. Resolve p with RealPath first: an fs.FS
// does not follow absolute symlinks. The data dir of an engine that never
// ran does not exist yet; the filesystem it will be created on is that of
// its nearest existing ancestor.
func NearestExisting(fsys fs.FS, p string) (string, bool) {
	p = path.Clean("/" + p)
	for q := p; ; q = path.Dir(q) {
		if _, err := fs.Stat(fsys, rel(q)); err == nil {
			return q, q == p
		}
		if q == "/" {
			return "/", p == "/"
		}
	}
}

// RealPath resolves the symbolic links in the absolute path p through fsys,
// as far as they can be read: mountinfo names mount points by their real
// paths, so /var/lib/rancher -> /data/rancher must be looked up as /data.
// Components that do not exist are kept as they are.
func RealPath(fsys fs.FS, p string) string {
	pending := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for hops := 0; len(pending) > 0; {
		c := pending[0]
		pending = pending[1:]
		if c == "" || c == "." {
			continue
		}
		next := path.Join(cur, c)
		fi, err := fs.Lstat(fsys, rel(next))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		target, err := fs.ReadLink(fsys, rel(next))
		if hops++; err != nil || target == "" || hops > 40 {
			cur = next
			continue
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		pending = append(strings.Split(strings.Trim(target, "/"), "/"), pending...)
	}
	return cur
}

func cleanAbs(p string) string { return path.Clean("/" + p) }
