//go:build linux

package shims

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// NamespaceAttr is the SysProcAttr that starts a process (the supervisor
// that runs the engine) in a new mount namespace; that process then calls
// PrivateNS first.
func NamespaceAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
}

// PrivateNS cuts the propagation from the caller's mount namespace back to
// the one it was cloned from: / and every mount under it become slaves
// (mounts made outside still show up inside, none made inside leaks out).
// Call it first thing in a process started with NamespaceAttr. Where
// MS_SLAVE is refused it tries MS_PRIVATE; gVisor refuses both with EINVAL
// on / and does not propagate mounts between namespaces anyway, which is
// reported as success.
func PrivateNS() error {
	err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, "")
	if err == nil {
		return nil
	}
	if err2 := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err2 == nil {
		return nil
	}
	if errors.Is(err, unix.EINVAL) && isGVisor() {
		return nil
	}
	return fmt.Errorf("make / rslave in the new mount namespace: %w", err)
}

func isGVisor() bool {
	b, err := os.ReadFile("/proc/version")
	if err != nil {
		return false
	}
	// gVisor's /proc/version is a fixed 4.4.0 line; dmesg names it.
	if strings.Contains(string(b), "gVisor") {
		return true
	}
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return strings.HasPrefix(unix.ByteSliceToString(u.Release[:]), "4.4.0") && !fileExists("/proc/modules")
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func currentMountNS() string {
	s, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return ""
	}
	return s
}

// nsGone returns nil when no process holds the mount namespace ns any
// more (its mounts went with it), ErrNamespaceInUse naming a holder
// otherwise.
func nsGone(ns string) error {
	links, _ := filepath.Glob("/proc/[0-9]*/ns/mnt")
	for _, l := range links {
		if t, err := os.Readlink(l); err == nil && t == ns {
			pid, _ := strconv.Atoi(strings.Split(l, "/")[2])
			return fmt.Errorf("%w: %s held by pid %d; stop it first (its mounts go away with it)", ErrNamespaceInUse, ns, pid)
		}
	}
	return nil
}

// mountsAt returns the mounts whose mount point is p, bottom first.
func mountsAt(p string) ([]*mountinfo.Info, error) {
	ms, err := mountinfo.GetMounts(func(i *mountinfo.Info) (bool, bool) {
		return i.Mountpoint != p, false
	})
	if err != nil {
		return nil, err
	}
	// Order by stacking: a mount whose parent is another mount at p sits
	// above it.
	byID := map[int]*mountinfo.Info{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	var out []*mountinfo.Info
	var bottom *mountinfo.Info
	for _, m := range ms {
		if _, stacked := byID[m.Parent]; !stacked {
			bottom = m
			break
		}
	}
	for m := bottom; m != nil; {
		out = append(out, m)
		var next *mountinfo.Info
		for _, c := range ms {
			if c.Parent == m.ID {
				next = c
				break
			}
		}
		m = next
	}
	if len(out) != len(ms) {
		// A cycle-free order was not found (should not happen): fall
		// back to the file's order, which lists newer mounts later.
		return ms, nil
	}
	return out, nil
}

// topMount returns the mount on top at p, or nil.
func topMount(p string) (*mountinfo.Info, error) {
	ms, err := mountsAt(p)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	return ms[len(ms)-1], nil
}

// mountFn is mount(2); tests make it fail.
var mountFn = unix.Mount

// mountStep mounts and journals the new mount with its ID.
func mountStep(a *Applied, source, target, fstype string, flags uintptr, data string, detach bool) error {
	if err := mountFn(source, target, fstype, flags, data); err != nil {
		return &os.PathError{Op: "mount " + describeMount(source, fstype, flags), Path: target, Err: err}
	}
	m, err := topMount(target)
	if err != nil || m == nil {
		// It is mounted but not found in mountinfo: undo by path.
		_ = unix.Unmount(target, unix.MNT_DETACH)
		if err == nil {
			err = errors.New("not in mountinfo after mounting")
		}
		return fmt.Errorf("find the mount at %s: %w", target, err)
	}
	a.add(Step{Op: "mount", Path: target, MountID: m.ID, NS: true, Detach: detach})
	return nil
}

func describeMount(source, fstype string, flags uintptr) string {
	if flags&unix.MS_BIND != 0 {
		return "--bind " + source
	}
	return "-t " + fstype
}

func propagationOf(optional string) string {
	var p []string
	for _, f := range strings.Fields(optional) {
		switch {
		case strings.HasPrefix(f, "shared:"):
			p = append(p, "shared")
		case strings.HasPrefix(f, "master:"):
			p = append(p, "slave")
		case f == "unbindable":
			p = append(p, "unbindable")
		}
	}
	if len(p) == 0 {
		return "private"
	}
	return strings.Join(p, ",")
}
