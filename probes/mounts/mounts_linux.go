//go:build linux

package mounts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/filesystems"
	"github.com/kprobe/kprobe/probes/procfs"

	"github.com/kprobe/kprobe/probes/bounded"
)

const opTrial = "mounts.trial"

// Ops returns the grandchild ops of the mounts probes.
func Ops() map[string]probes.Op {
	return map[string]probes.Op{opTrial: opTrialMain}
}

// opTrialMain runs in a grandchild cloned into a new mount namespace (and
// maybe a user namespace): args are the scratch dir.
func opTrialMain(args []string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("usage: %s BASE", opTrial)
	}
	return Trial(args[0], true, true).String(), nil
}

// Trial runs the propagation and rbind steps:
//
//   - private (when private): MS_REC|MS_PRIVATE on /, so that nothing
//     mounted here propagates out.
//   - rshared, shared_check, restore (when shared): MS_REC|MS_SHARED on /,
//     check mountinfo shows / shared, then back to MS_REC|MS_PRIVATE. Only
//     ever in a mount namespace of our own. Where MS_REC is refused with
//     EINVAL (gVisor), shared_each makes / shared on its own instead, as
//     the rshared shim does mount by mount.
//   - prepare, rbind, rbind_check, umount: MS_BIND|MS_REC of base/src onto
//     base/dst, check a file shows through, unmount.
func Trial(base string, private, shared bool) filesystems.Steps {
	var s filesystems.Steps
	if private {
		s.Add("private", unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""))
	}
	if shared {
		err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, "")
		ok := s.Add("rshared", err)
		if !ok && errors.Is(err, unix.EINVAL) {
			ok = s.Add("shared_each", unix.Mount("", "/", "", unix.MS_SHARED, ""))
		}
		if ok {
			s.Add("shared_check", rootIsShared())
			if !s.Add("restore", unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")) {
				s.Add("restore_each", unix.Mount("", "/", "", unix.MS_PRIVATE, ""))
			}
		}
	}
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	err := os.Mkdir(src, 0o700)
	if err == nil {
		err = os.Mkdir(dst, 0o700)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(src, "marker"), nil, 0o600)
	}
	if !s.Add("prepare", err) {
		return s
	}
	if !s.Add("rbind", unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, "")) {
		return s
	}
	_, err = os.Stat(filepath.Join(dst, "marker"))
	s.Add("rbind_check", err)
	s.Add("umount", unix.Unmount(dst, unix.MNT_DETACH))
	return s
}

var errNotShared = errors.New("not_shared")

// rootIsShared checks in mountinfo that / now has a peer group.
func rootIsShared() error {
	raw, err := bounded.ReadFile("/proc/self/mountinfo", bounded.Mountinfo)
	if err != nil {
		return err
	}
	mounts, _ := procfs.ParseMountinfo(bytes.NewReader(raw))
	if m := procfs.MountFor(mounts, "/"); m == nil || Propagation(m.Optional) != "shared" {
		return errNotShared
	}
	return nil
}

func cloneDenied(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) ||
		errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EUSERS) ||
		errors.Is(err, syscall.ENOSPC)
}

// both reads a step and, when there is one, its check.
// sharedPossible: / became shared, recursively or (gVisor) on its own.
func sharedPossible(s filesystems.Steps) probes.Tri {
	if s.Tri("rshared") != probes.Yes && s.Tri("shared_each") == probes.Yes {
		return both(s, "shared_each", "shared_check")
	}
	return both(s, "rshared", "shared_check")
}

func both(s filesystems.Steps, step, check string) probes.Tri {
	t := s.Tri(step)
	if t == probes.Yes && s.Tri(check) != probes.Yes {
		return probes.No
	}
	return t
}

// Run tries the steps in this child's private mount namespace when it has
// one, else in a grandchild with a new mount namespace; then again in a
// grandchild with new user and mount namespaces.
func (RShared) Run(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	if env.TempDir == "" {
		return o, errors.New("mounts.rshared is an active probe: it needs a scratch dir")
	}
	mk := func(name string) (string, bool) {
		d := filepath.Join(env.TempDir, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			o.Note("mkdir "+d, "", err)
			return "", false
		}
		return d, true
	}

	var ev probes.Evidence
	if base, ok := mk("ns"); !ok {
		o.Set("mount.rshared_possible", probes.Unknown)
		o.Set("mount.rbind", probes.Unknown)
	} else if probes.InPrivateMountNamespace() {
		// The runner gave us a private mount namespace: / may change here.
		s := Trial(base, false, true)
		ev = probes.Evidence{Source: "the probe's private mount namespace", Excerpt: s.String()}
		o.Set("mount.rshared_possible", sharedPossible(s))
		o.Set("mount.rbind", both(s, "rbind", "rbind_check"))
		o.Evidence = append(o.Evidence, ev)
	} else {
		attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
		out, err := probes.SpawnOp(ctx, attr, opTrial, base)
		switch {
		case err == nil:
			s := filesystems.ParseSteps(out)
			ev = probes.Evidence{Source: "new mount namespace", Excerpt: s.String()}
			o.Set("mount.rshared_possible", sharedPossible(s))
			o.Set("mount.rbind", both(s, "rbind", "rbind_check"))
		case cloneDenied(err):
			// No namespace of our own: / is the sandbox's and stays as it
			// is. A bind of a scratch dir onto another is undone at once.
			s := Trial(base, false, false)
			ev = probes.Evidence{Source: "the sandbox's mount namespace (clone(CLONE_NEWNS): " + probes.Errno(err) + "; / propagation not changed)",
				Excerpt: s.String(), Errno: probes.Errno(err)}
			o.Set("mount.rshared_possible", probes.Unknown)
			o.Set("mount.rbind", both(s, "rbind", "rbind_check"))
		default:
			ev = probes.Evidence{Source: "new mount namespace", Excerpt: err.Error(), Errno: probes.Errno(err)}
			o.Set("mount.rshared_possible", probes.Unknown)
			o.Set("mount.rbind", probes.Unknown)
		}
		o.Evidence = append(o.Evidence, ev)
	}

	if base, ok := mk("userns"); !ok {
		o.Set("mount.userns_rshared", probes.Unknown)
		o.Set("mount.userns_rbind", probes.Unknown)
	} else {
		attr := &syscall.SysProcAttr{
			Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
			GidMappingsEnableSetgroups: false,
		}
		out, err := probes.SpawnOp(ctx, attr, opTrial, base)
		uev := probes.Evidence{Source: "new user+mount namespace"}
		switch {
		case err == nil:
			s := filesystems.ParseSteps(out)
			uev.Excerpt = s.String()
			o.Set("mount.userns_rshared", sharedPossible(s))
			o.Set("mount.userns_rbind", both(s, "rbind", "rbind_check"))
		case cloneDenied(err):
			// No user namespace with root mapped: nothing can be tried.
			uev.Excerpt, uev.Errno = "clone refused", probes.Errno(err)
			o.Set("mount.userns_rshared", probes.No)
			o.Set("mount.userns_rbind", probes.No)
		default:
			uev.Excerpt, uev.Errno = err.Error(), probes.Errno(err)
			o.Set("mount.userns_rshared", probes.Unknown)
			o.Set("mount.userns_rbind", probes.Unknown)
		}
		o.Evidence = append(o.Evidence, uev)
		if ev.Source == "" {
			ev = uev
		}
	}
	judge(o, ev)
	return o, nil
}
