//go:build linux

package filesystems

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// tryDir makes and removes a scratch directory in dir, or in its nearest
// existing ancestor when dir does not exist; it returns where it tried.
// Symlinks are not followed into: a directory that is a symlink is tried
// where it points, as the components would write there.
func tryDir(dir string) (string, error) {
	where := filepath.Clean(dir)
	for {
		st, err := os.Stat(where)
		if err == nil {
			if !st.IsDir() {
				return where, unix.ENOTDIR
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return where, err
		}
		parent := filepath.Dir(where)
		if parent == where {
			return where, err
		}
		where = parent
	}
	scratch := filepath.Join(where, ".kprobe-dirtest-"+strconv.Itoa(os.Getpid()))
	if err := unix.Mkdir(scratch, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return where, err
	}
	return where, unix.Rmdir(scratch)
}
