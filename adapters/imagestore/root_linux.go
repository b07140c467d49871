package imagestore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// copyTree copies the image root src into the fresh directory dst (see
// NewRoot). Directories are made 0700 and get their own mode and times at
// the end, deepest first, so a read-only directory can still be filled and
// its mtime is not changed by the filling.
func copyTree(src, dst string) error {
	euid := os.Geteuid()
	type dirMeta struct {
		path string
		st   unix.Stat_t
	}
	var dirs []dirMeta
	linked := map[uint64]string{} // inode in src -> its first copy in dst
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if rel != "." {
				if err := os.Mkdir(target, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirMeta{target, st})
			return nil
		case unix.S_IFREG:
			if first, ok := linked[st.Ino]; ok {
				return os.Link(first, target)
			}
			if st.Nlink > 1 {
				linked[st.Ino] = target
			}
			if euid != 0 && st.Uid != uint32(euid) && st.Mode&0o222 == 0 {
				if err := os.Link(p, target); err == nil {
					return nil
				}
			}
			if err := copyFile(p, target); err != nil {
				return err
			}
		case unix.S_IFLNK:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, target); err != nil {
				return err
			}
		case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
			if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
				return nil // as in the image unpack: no CAP_MKNOD, no node
			}
		default:
			return nil // sockets
		}
		return applyStat(target, &st)
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := applyStat(dirs[i].path, &dirs[i].st); err != nil {
			return err
		}
	}
	return nil
}

// applyStat gives target the owner (where chown works), mode (not for
// symlinks) and times of st.
func applyStat(target string, st *unix.Stat_t) error {
	if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil &&
		!errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EINVAL) {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Chmod(target, st.Mode&0o7777); err != nil {
			return &fs.PathError{Op: "chmod", Path: target, Err: err}
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	err := unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil && !errors.Is(err, unix.ENOTSUP) {
		return &fs.PathError{Op: "utimes", Path: target, Err: err}
	}
	return nil
}

// copyFile clones src to the new file dst where the filesystem can, and
// copies it otherwise (io.Copy between files uses copy_file_range).
func copyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) != nil {
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

// checkNoMounts fails when anything is mounted at or under dir.
func checkNoMounts(dir string) error {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return err
	}
	if len(ms) > 0 {
		return fmt.Errorf("%s has %d mount(s) under it (first: %s); unmount them first", dir, len(ms), ms[0].Mountpoint)
	}
	return nil
}
