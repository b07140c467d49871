//go:build unix

package datadir

import (
	"os"

	"golang.org/x/sys/unix"
)

const oNoFollow = unix.O_NOFOLLOW

// identity is a directory's device and inode, not following a symlink.
func identity(dir string) (dev, ino uint64, err error) {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return 0, 0, &os.PathError{Op: "lstat", Path: dir, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, 0, refuse("data dir %s exists and is not a directory: pass another --data-dir", dir)
	}
	return uint64(st.Dev), uint64(st.Ino), nil
}
