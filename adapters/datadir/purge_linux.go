//go:build linux

package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Purge deletes a data dir kprobe made, and nothing else: it refuses a
// directory without the marker, never follows a symlink (a planted link
// is removed, its target kept) and never crosses a mount point (a bind
// mount or volume inside is left mounted, with its content, and named in
// the error). Directories are opened with openat2 RESOLVE_BENEATH |
// RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS; on kernels without openat2 the
// mount table and the device number decide.
func Purge(dir string) error {
	if err := Check(dir); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return err
	}
	p := &purger{dev: st.Dev, mounts: mountpoints()}
	// The marker goes last, so that a purge stopped by a mount point
	// can be run again once it is unmounted.
	p.contents(fd, dir, MarkerName)
	unix.Close(fd)
	if len(p.kept) > 0 {
		return fmt.Errorf("purge %s: kept what lies on other file systems: %s (unmount them, then run stop --purge again)", dir, strings.Join(p.kept, ", "))
	}
	if len(p.errs) > 0 {
		return fmt.Errorf("purge %s: %w", dir, errors.Join(p.errs...))
	}
	if err := os.Remove(filepath.Join(dir, MarkerName)); err != nil {
		return err
	}
	if err := unix.Rmdir(dir); err != nil {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}

type purger struct {
	dev    uint64
	mounts map[string]bool
	kept   []string
	errs   []error
}

func (p *purger) contents(fd int, path, skip string) {
	names, err := readNames(fd)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("read %s: %w", path, err))
		return
	}
	for _, name := range names {
		if name == skip {
			continue
		}
		child := filepath.Join(path, name)
		err := unix.Unlinkat(fd, name, 0)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EBUSY): // a file bind-mounted over
			p.kept = append(p.kept, child)
			continue
		case !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM):
			p.errs = append(p.errs, &os.PathError{Op: "unlink", Path: child, Err: err})
			continue
		}
		cfd, err := p.openDir(fd, name, child)
		if err != nil {
			if errors.Is(err, unix.EXDEV) {
				p.kept = append(p.kept, child)
			} else {
				p.errs = append(p.errs, err)
			}
			continue
		}
		before := len(p.kept)
		p.contents(cfd, child, "")
		unix.Close(cfd)
		if len(p.kept) > before {
			continue // holds a mount point: keep the path to it
		}
		if err := unix.Unlinkat(fd, name, unix.AT_REMOVEDIR); err != nil {
			if errors.Is(err, unix.EBUSY) {
				p.kept = append(p.kept, child)
			} else {
				p.errs = append(p.errs, &os.PathError{Op: "rmdir", Path: child, Err: err})
			}
		}
	}
}

// openDir opens a subdirectory beneath fd without crossing a mount or
// following a symlink; EXDEV when it is a mount point.
func (p *purger) openDir(fd int, name, path string) (int, error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	cfd, err := unix.Openat2(fd, name, &how)
	if errors.Is(err, unix.ENOSYS) {
		// No openat2 (Linux < 5.6, some sandboxes): the mount table and
		// the device number decide.
		if p.mounts[path] {
			return -1, unix.EXDEV
		}
		cfd, err = unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			var st unix.Stat_t
			if unix.Fstat(cfd, &st) == nil && st.Dev != p.dev {
				unix.Close(cfd)
				return -1, unix.EXDEV
			}
		}
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return cfd, nil
}

func readNames(fd int) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), "")
	defer f.Close()
	return f.Readdirnames(-1)
}

// mountpoints reads this mount namespace's mount points (the fallback
// without openat2).
func mountpoints() map[string]bool {
	out := map[string]bool{}
	ms, _ := mountinfo.GetMounts(nil)
	for _, m := range ms {
		out[m.Mountpoint] = true
	}
	return out
}
