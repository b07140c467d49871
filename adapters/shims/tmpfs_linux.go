//go:build linux

package shims

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// containerd's snapshotters and the kubelet's stat of its root fail on 9p
// (gVisor's gofer root): "failed to mount overlay: invalid argument",
// "unable to find data in memory cache". A tmpfs data dir avoids both
// (gVisor's own docker image mounts tmpfs on /var/lib/docker). The content
// is copied in so that the engine sees the same data dir; Undo unmounts,
// which discards what was written since and uncovers the original.

// maxCopy bounds what tmpfs-datadir copies into memory.
const maxCopy = 512 << 20

func applyTmpfsDataDir(ctx context.Context, env *Env, a *Applied) error {
	if env.DataDir == "" {
		return fmt.Errorf("no data dir: %w", ErrNotApplicable)
	}
	dir, err := filepath.Abs(env.DataDir)
	if err != nil {
		return err
	}
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		dir = r
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if m, err := topMount(dir); err != nil {
		return err
	} else if m != nil && m.FSType == "tmpfs" {
		a.note("%s is a tmpfs mount already", dir)
		a.output("dataDir", dir)
		return nil
	}
	if err := mkdirAll(a, dir, 0o700); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return err
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err == nil {
		a.note("%s was on fs type 0x%x", dir, sfs.Type)
	}
	// Keep a handle on the directory the tmpfs will cover, to copy from.
	under, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer under.Close()
	opts := "mode=" + strconv.FormatUint(uint64(st.Mode&0o7777), 8) +
		",uid=" + strconv.FormatUint(uint64(st.Uid), 10) + ",gid=" + strconv.FormatUint(uint64(st.Gid), 10)
	if env.TmpfsSize != "" {
		opts += ",size=" + env.TmpfsSize
	}
	if err := mountStep(a, "kprobe-data", dir, "tmpfs", 0, opts, false); err != nil {
		return err
	}
	n, bytes, err := copyTree(ctx, under, dir)
	if err != nil {
		return fmt.Errorf("copy the data dir into the tmpfs: %w", err)
	}
	a.note("mounted a tmpfs on %s (%s), copied %d entries (%d bytes) from underneath", dir, opts, n, bytes)
	a.output("dataDir", dir)
	return nil
}

// copyTree copies the tree under the open directory src into dst
// (directories, regular files, symlinks, fifos; owners and modes kept).
func copyTree(ctx context.Context, src *os.File, dst string) (n int, total int64, err error) {
	root := fmt.Sprintf("/proc/self/fd/%d", src.Fd())
	fsys := os.DirFS(root)
	err = fs.WalkDir(fsys, ".", func(rel string, d fs.DirEntry, werr error) error {
		if werr != nil {
			return werr
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if rel == "." {
			return nil
		}
		from, to := filepath.Join(root, rel), filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(from, &st); err != nil {
			return err
		}
		mode := os.FileMode(st.Mode & 0o7777)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := os.Mkdir(to, 0o700); err != nil {
				return err
			}
		case unix.S_IFREG:
			total += st.Size
			if total > maxCopy {
				return fmt.Errorf("more than %d MiB to copy: empty the data dir first", maxCopy>>20)
			}
			if err := copyFile(from, to); err != nil {
				return err
			}
		case unix.S_IFLNK:
			t, err := os.Readlink(from)
			if err != nil {
				return err
			}
			if err := os.Symlink(t, to); err != nil {
				return err
			}
		case unix.S_IFIFO:
			if err := unix.Mkfifo(to, 0o600); err != nil {
				return err
			}
		default:
			return nil // sockets and device nodes are not data
		}
		n++
		if err := unix.Lchown(to, int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, unix.EPERM) {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			if err := os.Chmod(to, mode); err != nil {
				return err
			}
		}
		return nil
	})
	return n, total, err
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
