package filesystems

import (
	"io/fs"
	"path"
	"strings"
)

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
