//go:build linux

package shims

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

func undoStep(st Step) error {
	switch st.Op {
	case "mount":
		return undoMount(st)
	case "propagation":
		return undoPropagation(st)
	case "mkdir", "file", "symlink":
		return undoCreated(st)
	case "cgroup-procs":
		return undoCgroupProcs(st)
	case "cgroup-subtree":
		return undoSubtree(st)
	case "cgroup-subtree-off":
		return undoSubtreeOff(st)
	}
	return fmt.Errorf("unknown step %q", st.Op)
}

func undoMount(st Step) error {
	ms, err := mountsAt(st.Path)
	if err != nil {
		return err
	}
	at := -1
	for i, m := range ms {
		if m.ID == st.MountID {
			at = i
		}
	}
	if at < 0 {
		return nil // gone already
	}
	if at != len(ms)-1 {
		return fmt.Errorf("mount %d is covered by mount %d (%s); unmount that first", st.MountID, ms[len(ms)-1].ID, ms[len(ms)-1].FSType)
	}
	flags := 0
	if st.Detach {
		flags = unix.MNT_DETACH
	}
	err = unix.Unmount(st.Path, flags)
	if errors.Is(err, unix.EBUSY) && flags == 0 {
		// Something still has it open or mounted beneath: detach it,
		// it goes away when the last user does.
		err = unix.Unmount(st.Path, unix.MNT_DETACH)
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // not a mount point any more
	}
	return err
}

var propagationFlags = map[string]uintptr{
	"private":    unix.MS_PRIVATE,
	"slave":      unix.MS_SLAVE,
	"unbindable": unix.MS_UNBINDABLE,
}

func undoPropagation(st Step) error {
	var errs []error
	// Parents first does not matter: each call is non-recursive.
	for mp, prev := range st.Propagation {
		fl, ok := propagationFlags[prev]
		if !ok {
			continue // it was shared before
		}
		if err := unix.Mount("", mp, "", fl, ""); err != nil && !errors.Is(err, unix.ENOENT) {
			// EINVAL: no longer a mount point; nothing to restore.
			if !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("make %s %s: %w", mp, prev, err))
			}
		}
	}
	return errors.Join(errs...)
}

// undoCreated removes a file, symlink or empty directory if it is still the
// one the step created (same device and inode).
func undoCreated(st Step) error {
	var s unix.Stat_t
	if err := unix.Lstat(st.Path, &s); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Ino != 0 && (s.Ino != st.Ino || uint64(s.Dev) != st.Dev) {
		return nil // replaced by someone else's: not ours to remove
	}
	if st.Op == "symlink" && st.Target != "" {
		if t, err := os.Readlink(st.Path); err != nil || t != st.Target {
			return nil
		}
	}
	err := os.Remove(st.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// created journals a path this shim just created.
func created(a *Applied, op, p, target string) {
	st := Step{Op: op, Path: p, Target: target}
	var s unix.Stat_t
	if unix.Lstat(p, &s) == nil {
		st.Dev, st.Ino = uint64(s.Dev), s.Ino
	}
	a.add(st)
}

// mkdirAll creates p and its missing parents, journalling each one it
// created, top first.
func mkdirAll(a *Applied, p string, mode os.FileMode) error {
	p = filepath.Clean(p)
	var missing []string
	for d := p; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], mode); err != nil {
			return err
		}
		created(a, "mkdir", missing[i], "")
	}
	return nil
}

// writeFileStep creates a new file (it must not exist) and journals it.
func writeFileStep(a *Applied, p string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	created(a, "file", p, "")
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(p, mode) // umask
	}
	return err
}

func quoteList(ss []string) string {
	return "[" + strings.Join(ss, " ") + "]"
}
