package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DirError says why a directory cannot take a capture. The command maps it
// to bad input.
type DirError struct {
	Dir    string
	Reason string
}

func (e *DirError) Error() string {
	return fmt.Sprintf("%s %s; kprobe capture writes only into a new or empty directory of yours and never deletes or overwrites what it did not write", e.Dir, e.Reason)
}

// CheckDir refuses a capture directory kprobe must not write into: "/",
// a symlink, something not a directory, a directory of another user, or a
// directory that holds anything. A missing directory is fine: Write
// creates it.
func CheckDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return checkExisting(abs, fi)
}

func checkExisting(abs string, fi fs.FileInfo) error {
	if abs == "/" {
		return &DirError{Dir: abs, Reason: "is the root directory"}
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := filepath.EvalSymlinks(abs)
		return &DirError{Dir: abs, Reason: fmt.Sprintf("is a symlink (to %s): give a real directory", target)}
	case !fi.IsDir():
		return &DirError{Dir: abs, Reason: "exists and is not a directory"}
	}
	if uid, ok := owner(fi); ok && uid != os.Geteuid() {
		return &DirError{Dir: abs, Reason: fmt.Sprintf("belongs to uid %d, not to you (uid %d)", uid, os.Geteuid())}
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return &DirError{Dir: abs, Reason: fmt.Sprintf("is not empty (it holds %s)", ents[0].Name())}
	}
	return nil
}

// createDir creates dir (or takes it when it is an empty directory of
// the caller's) and opens it as an os.Root: every later write goes
// through that handle, so no path leaves the directory, whatever is
// planted in it or swapped for it meanwhile.
func createDir(dir string) (*os.Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if abs == "/" {
		return nil, &DirError{Dir: abs, Reason: "is the root directory"}
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(abs, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, err
	}
	if err := checkExisting(abs, fi); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, err
	}
	// The directory checked must be the one opened, not one swapped in
	// between.
	opened, err := root.Stat(".")
	if err != nil || !os.SameFile(fi, opened) {
		root.Close()
		return nil, &DirError{Dir: abs, Reason: "changed while kprobe opened it"}
	}
	return root, nil
}

// writeNew writes a file that must not exist yet: a planted file or
// symlink fails the write instead of receiving it.
func writeNew(root *os.Root, name string, data []byte) error {
	if err := root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := bytes.NewReader(data).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
