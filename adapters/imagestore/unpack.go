package imagestore

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Whiteout names of the OCI image layer spec (and AUFS before it).
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// Bounds on single tar header fields (the kernel's PATH_MAX).
const maxNameLen = 4096

// unpacker applies layers, in order, to one root directory. Every layer is
// untrusted: an entry's parent is resolved inside the root with
// securejoin (symlinks in it are followed as a chroot would follow them,
// never out of the root), and its last component is never followed (it is
// removed and made anew, with O_NOFOLLOW/O_EXCL or the *at calls'
// no-follow flag). The root is private to the unpack (under tmp/) until it
// is complete, so no other process races these steps.
type unpacker struct {
	root       string
	maxBytes   int64
	maxEntries int64

	bytes   int64 // uncompressed tar bytes read, all layers
	entries int64

	euid, egid int
	// chownRefused remembers uid/gid pairs chown refused, so a non-root
	// unpack tries each pair once instead of once per file.
	chownRefused map[[2]int]bool
	unkept       Unkept

	// dirs holds each directory's metadata, applied once every layer is
	// in: a directory's mtime changes as entries are added to it, and a
	// non-root user could not write into a directory whose mode lacks u+w.
	dirs map[string]*tar.Header
	// thisLayer holds the paths the current layer wrote, which an opaque
	// whiteout in the same layer must keep.
	thisLayer map[string]bool
	// parents caches resolved parent directories (entry dir -> path). A
	// resolution stays right until a directory is removed (directories
	// are never moved), so any removal of one clears it.
	parents map[string]string
}

func newUnpacker(root string, maxBytes, maxEntries int64) *unpacker {
	return &unpacker{
		root: root, maxBytes: maxBytes, maxEntries: maxEntries,
		euid: os.Geteuid(), egid: os.Getegid(),
		chownRefused: map[[2]int]bool{},
		dirs:         map[string]*tar.Header{},
		parents:      map[string]string{},
	}
}

// countingReader fails once more than limit bytes were read through it.
type countingReader struct {
	r     io.Reader
	n     *int64
	limit int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	if *c.n > c.limit {
		return n, fmt.Errorf("image larger than %d bytes uncompressed", c.limit)
	}
	return n, err
}

// apply applies one uncompressed layer (a tar stream) and reads the stream
// to its end.
func (u *unpacker) apply(r io.Reader) error {
	cr := countingReader{r: r, n: &u.bytes, limit: u.maxBytes}
	tr := tar.NewReader(cr)
	u.thisLayer = map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		u.entries++
		if u.entries > u.maxEntries {
			return fmt.Errorf("image has more than %d entries", u.maxEntries)
		}
		if err := u.entry(hdr, tr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	// The tar reader stops at the end-of-archive marker; read the rest so
	// the caller's digest covers the whole stream.
	_, err := io.Copy(io.Discard, cr)
	return err
}

// clean turns an entry name into a path relative to the root, "" for the
// root itself. Leading "/" and ".." that would climb above the root are
// dropped, as every container runtime does.
func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	if len(hdr.Name) > maxNameLen || len(hdr.Linkname) > maxNameLen {
		return errors.New("name too long")
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeGNUSparse: // archive/tar reads the old TypeRegA as TypeReg
		hdr.Typeflag = tar.TypeReg
	}
	rel := clean(hdr.Name)
	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			u.dirs[""] = hdr
		}
		return nil
	}
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if base == whiteoutOpaque {
		return u.opaque(dir)
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		victim := strings.TrimPrefix(base, whiteoutPrefix)
		if victim == "" || victim == "." || victim == ".." {
			return errors.New("malformed whiteout")
		}
		return u.whiteout(path.Join(dir, victim))
	}
	parent, err := u.mkdirParent(dir)
	if err != nil {
		return err
	}
	target := filepath.Join(parent, base)
	rel = u.relOf(target)
	u.markLayer(rel)

	if hdr.Typeflag == tar.TypeDir {
		st, err := os.Lstat(target)
		switch {
		case err == nil && st.IsDir():
		case err == nil || !errors.Is(err, fs.ErrNotExist):
			if err := u.remove(target); err != nil {
				return err
			}
			fallthrough
		default:
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
		}
		u.dirs[rel] = hdr
		return u.owner(target, rel, hdr, false)
	}

	if err := u.remove(target); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		// A sparse entry's holes are not in the stream the counter sees.
		if hdr.Size > u.maxBytes-u.bytes {
			return fmt.Errorf("file of %d bytes exceeds the image size bound %d", hdr.Size, u.maxBytes)
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return err
		}
	case tar.TypeLink:
		src, err := u.resolveLink(hdr.Linkname)
		if errors.Is(err, fs.ErrNotExist) && slices.Contains(u.unkept.Devices, "/"+clean(hdr.Linkname)) {
			// A link to a device node mknod refused is left out as well.
			u.unkept.Devices = append(u.unkept.Devices, "/"+rel)
			return nil
		}
		if err != nil {
			return err
		}
		// link(2) does not follow a symlink at src: the link is to the
		// symlink itself, which stays inside the root.
		if err := os.Link(src, target); err != nil {
			if !linkRefused(err) {
				return err
			}
			// The filesystem has no hard links (some 9p and FUSE ones):
			// an independent copy keeps the content.
			return copyForLink(src, target)
		}
		return nil // a hard link shares its source's owner, mode and times
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		if err := unix.Mknod(target, mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			// No CAP_MKNOD (a non-root user, most sandboxes): the node
			// is left out and said so.
			u.unkept.Devices = append(u.unkept.Devices, "/"+rel)
			return nil
		}
	default:
		return nil // sockets and unknown types carry no content
	}
	if err := u.owner(target, rel, hdr, true); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := u.chmod(target, rel, hdr); err != nil {
			return err
		}
	}
	if err := setTimes(target, hdr.ModTime); err != nil && hdr.Typeflag != tar.TypeSymlink {
		return err // a symlink's times are cosmetic, and not every filesystem sets them
	}
	return nil
}

func linkRefused(err error) bool {
	for _, e := range []error{unix.EPERM, unix.ENOTSUP, unix.EOPNOTSUPP, unix.EXDEV, unix.EMLINK, unix.ENOSYS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// copyForLink makes target a copy of src (a regular file or a symlink,
// never followed) with its mode, owner where chown works, and mtime.
func copyForLink(src, target string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		l, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(l, target)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("cannot copy %s for a hard link: %v", src, st.Mode())
	}
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		out.Chown(int(sys.Uid), int(sys.Gid)) // as the source: refused exactly where the source's was
	}
	if err := out.Chmod(st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return setTimes(target, st.ModTime())
}

// relOf is target's path relative to the root.
func (u *unpacker) relOf(target string) string {
	rel, _ := filepath.Rel(u.root, target)
	if rel == "." {
		return ""
	}
	return filepath.ToSlash(rel)
}

// markLayer records rel and its parents as written by the current layer.
func (u *unpacker) markLayer(rel string) {
	for rel != "" && rel != "." && !u.thisLayer[rel] {
		u.thisLayer[rel] = true
		rel = path.Dir(rel)
	}
}

// inRoot resolves rel's parent inside the root and joins rel's last
// component unresolved. The result is always under the root.
func (u *unpacker) inRoot(rel string) (string, error) {
	dir, base := path.Split(clean(rel))
	p, err := securejoin.SecureJoin(u.root, dir)
	if err != nil {
		return "", err
	}
	return filepath.Join(p, base), nil
}

// mkdirParent resolves dir inside the root and creates what is missing
// of it (0755, as docker does for directories a layer does not list).
func (u *unpacker) mkdirParent(dir string) (string, error) {
	if p, ok := u.parents[dir]; ok {
		return p, nil
	}
	p, err := u.resolveDir(dir)
	if err == nil {
		u.parents[dir] = p
	}
	return p, err
}

func (u *unpacker) resolveDir(dir string) (string, error) {
	p, err := securejoin.SecureJoin(u.root, dir)
	if err != nil {
		return "", err
	}
	st, err := os.Lstat(p)
	if err == nil {
		if !st.IsDir() {
			return "", fmt.Errorf("parent %s is not a directory", dir)
		}
		return p, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	// SecureJoin resolved every existing component; the missing tail is
	// created fresh, so MkdirAll meets no symlink.
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", err
	}
	return p, nil
}

// resolveLink resolves a hard link's source inside the root without
// following its last component.
func (u *unpacker) resolveLink(linkname string) (string, error) {
	src, err := u.inRoot(linkname)
	if err != nil {
		return "", err
	}
	st, err := os.Lstat(src)
	if err != nil {
		return "", fmt.Errorf("hard link source: %w", err)
	}
	if st.IsDir() {
		return "", errors.New("hard link to a directory")
	}
	return src, nil
}

// whiteout deletes rel (and what is under it) from the lower layers.
func (u *unpacker) whiteout(rel string) error {
	p, err := u.inRoot(rel)
	if err != nil {
		return err
	}
	if u.relOf(p) == "" {
		return nil
	}
	return u.remove(p)
}

// opaque empties dir of what the lower layers put there, keeping what the
// current layer wrote (the opaque marker may come after its siblings).
func (u *unpacker) opaque(dir string) error {
	p, err := u.mkdirParent(dir)
	if err != nil {
		return err
	}
	u.markLayer(u.relOf(p))
	return u.pruneLower(p)
}

func (u *unpacker) pruneLower(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if !u.thisLayer[u.relOf(p)] {
			if err := u.remove(p); err != nil {
				return err
			}
		} else if e.IsDir() {
			if err := u.pruneLower(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// remove deletes p (never following it) and forgets what the store
// recorded under it.
func (u *unpacker) remove(p string) error {
	st, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := removeTree(p); err != nil {
		return err
	}
	if err != nil || st.IsDir() || st.Mode()&fs.ModeSymlink != 0 {
		// A resolved parent may have gone through this directory or symlink.
		clear(u.parents)
	}
	rel := u.relOf(p)
	if err == nil && !st.IsDir() {
		// The common case (a file replaced by a later layer) costs no scan.
		delete(u.unkept.Owners, "/"+rel)
		delete(u.unkept.Modes, "/"+rel)
		return nil
	}
	u.forget(rel)
	return nil
}

func (u *unpacker) forget(rel string) {
	under := func(k string) bool { return k == rel || strings.HasPrefix(k, rel+"/") }
	for k := range u.unkept.Owners {
		if under(strings.TrimPrefix(k, "/")) {
			delete(u.unkept.Owners, k)
		}
	}
	for k := range u.unkept.Modes {
		if under(strings.TrimPrefix(k, "/")) {
			delete(u.unkept.Modes, k)
		}
	}
	for k := range u.dirs {
		if under(k) {
			delete(u.dirs, k)
		}
	}
	devs := u.unkept.Devices[:0]
	for _, d := range u.unkept.Devices {
		if !under(strings.TrimPrefix(d, "/")) {
			devs = append(devs, d)
		}
	}
	u.unkept.Devices = devs
}

// owner applies the entry's uid/gid, or records them where chown is
// refused (not root, or an ID outside this user namespace).
func (u *unpacker) owner(target, rel string, hdr *tar.Header, fresh bool) error {
	ids := [2]int{hdr.Uid, hdr.Gid}
	if fresh && ids == [2]int{u.euid, u.egid} {
		// A new entry is already ours: no directory has its setgid bit
		// until finish, so nothing inherits another group.
		return nil
	}
	if !u.chownRefused[ids] {
		err := os.Lchown(target, hdr.Uid, hdr.Gid)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EINVAL) {
			return err
		}
		u.chownRefused[ids] = true
	}
	if u.unkept.Owners == nil {
		u.unkept.Owners = map[string][2]int{}
	}
	u.unkept.Owners["/"+rel] = ids
	return nil
}

// chmod applies the entry's mode. Where the file stays owned by a non-root
// unpacking user, owner read (and search, for a directory) is added so the
// root can be copied, and the layer's mode recorded.
func (u *unpacker) chmod(target, rel string, hdr *tar.Header) error {
	mode := fs.FileMode(hdr.Mode & 0o777)
	if hdr.Mode&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if hdr.Mode&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if hdr.Mode&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	if u.euid != 0 {
		need := fs.FileMode(0o400)
		if hdr.Typeflag == tar.TypeDir {
			need = 0o700 &^ 0o200 // r-x
		}
		if mode&need != need {
			if u.unkept.Modes == nil {
				u.unkept.Modes = map[string]fs.FileMode{}
			}
			u.unkept.Modes["/"+rel] = mode
			mode |= need
		}
	}
	return os.Chmod(target, mode)
}

func setTimes(target string, mtime time.Time) error {
	ts := unix.NsecToTimespec(mtime.UnixNano())
	err := unix.UtimesNanoAt(unix.AT_FDCWD, target, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil // some filesystems cannot set a symlink's times
	}
	return err
}

// finish applies the directories' modes and times, deepest first, and
// returns what could not be kept.
func (u *unpacker) finish() (*Unkept, error) {
	rels := make([]string, 0, len(u.dirs))
	for rel := range u.dirs {
		rels = append(rels, rel)
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i] > rels[j] })
	for _, rel := range rels {
		p := u.root
		if rel != "" {
			var err error
			if p, err = u.inRoot(rel); err != nil {
				return nil, err
			}
		}
		// A later layer may have replaced a parent by a symlink: apply
		// only to the directory still at that exact place.
		if st, err := os.Lstat(p); err != nil || !st.IsDir() || u.relOf(p) != rel {
			continue
		}
		hdr := u.dirs[rel]
		if err := u.chmod(p, rel, hdr); err != nil {
			return nil, err
		}
		if err := setTimes(p, hdr.ModTime); err != nil {
			return nil, err
		}
	}
	sort.Strings(u.unkept.Devices)
	if u.unkept.empty() {
		return nil, nil
	}
	out := u.unkept
	return &out, nil
}

// removeTree removes p and everything under it without following
// symlinks. A non-root user cannot delete entries of a directory without
// u+w, so such directories get it first.
func removeTree(p string) error {
	err := os.RemoveAll(p)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

// processAlive tells whether a process with pid runs (or exists but is
// not ours to signal).
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
