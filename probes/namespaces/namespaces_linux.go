//go:build linux

package namespaces

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes"
)

// spawnTimeout bounds one grandchild; a healthy one takes a few ms.
const spawnTimeout = 5 * time.Second

// Run spawns the trials concurrently, in two rounds (see runTrials); each
// spawn is a re-exec of this binary taking a few ms (tens in gVisor), so
// mount trials of the same clone flags share one (see manyFunc).
func (Probe) Run(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	dir := env.TempDir
	if dir == "" {
		d, err := os.MkdirTemp("", "kprobe-namespaces-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	uid := os.Getuid()
	var made []string
	for _, t := range trials() {
		if t.fstype == "" {
			continue
		}
		p := filepath.Join(dir, targetName(t))
		if err := os.Mkdir(p, 0o700); err != nil && !os.IsExist(err) {
			return nil, err
		}
		made = append(made, p)
	}
	defer func() {
		for _, p := range made {
			_ = os.Remove(p) // empty: every mount was in a namespace that is gone
		}
	}()
	// attrOf is the clone a trial runs in: its namespaces, and root
	// mapped to this uid where the trial asks.
	attrOf := func(t trial) *syscall.SysProcAttr {
		attr := &syscall.SysProcAttr{Cloneflags: t.flags}
		if t.mapRoot {
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
			attr.GidMappingsEnableSetgroups = false
		}
		return attr
	}
	spawn := func(ctx context.Context, t trial) outcome {
		ctx, cancel := context.WithTimeout(ctx, spawnTimeout)
		defer cancel()
		attr := attrOf(t)
		var line string
		var err error
		if t.fstype == "" {
			line, err = probes.SpawnOp(ctx, attr, opNoop)
		} else {
			line, err = probes.SpawnOp(ctx, attr, opMount, t.fstype, filepath.Join(dir, targetName(t)))
		}
		return outcome{line: line, err: err}
	}
	many := func(ctx context.Context, ts []trial) []outcome {
		ctx, cancel := context.WithTimeout(ctx, spawnTimeout)
		defer cancel()
		attr := attrOf(ts[0]) // every trial of the group has the same
		var args []string
		for _, t := range ts {
			args = append(args, t.fstype, filepath.Join(dir, targetName(t)))
		}
		line, err := probes.SpawnOp(ctx, attr, opMounts, args...)
		res := make([]outcome, len(ts))
		lines := strings.Split(line, "|")
		if err == nil && len(lines) != len(ts) {
			err = fmt.Errorf("op %s sent %q for %d mounts", opMounts, line, len(ts))
		}
		for i := range ts {
			if err != nil {
				res[i].err = err
			} else {
				res[i].line = lines[i]
			}
		}
		return res
	}
	ts, res := runTrials(ctx, spawn, many)
	o := probes.NewObservation()
	fails := record(o, ts, res)
	judge(o, uid, fails)
	return o, nil
}

func targetName(t trial) string {
	return strings.ReplaceAll(strings.TrimPrefix(t.mountKey, "ns."), "_", "-")
}

// Ops returns the grandchild ops of this package.
func Ops() map[string]probes.Op {
	return map[string]probes.Op{opNoop: noop, opMount: mountOp, opMounts: mountsOp}
}

// noop is the body of a clone-only trial: the clone and exec succeeded.
func noop([]string) (string, error) { return "ok", nil }

// mountsOp is mountOp for pairs of fstype and target, mounted and
// unmounted in turn; its line is theirs joined by "|".
func mountsOp(args []string) (string, error) {
	if len(args) == 0 || len(args)%2 != 0 {
		return "", unix.EINVAL
	}
	var lines []string
	for i := 0; i < len(args); i += 2 {
		line, err := mountOp(args[i : i+2])
		if err != nil {
			return "", err
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "|"), nil
}

// mountOp mounts args[0] (a filesystem type) on args[1] and unmounts it
// again. It reports the mount's result on its output line, never as an
// error, so that the parent can tell a refused clone (an error) from a
// refused mount ("fail EPERM").
func mountOp(args []string) (string, error) {
	if len(args) != 2 {
		return "", unix.EINVAL
	}
	fstype, target := args[0], args[1]
	// Keep the mount out of the parent's peer group in case this mount
	// namespace was copied from one with shared propagation. gVisor
	// answers EINVAL and does not propagate; a child user namespace turns
	// shared mounts into slaves anyway.
	_ = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	data := ""
	switch fstype {
	case "sysfs":
		// Read-only, as runc mounts it: in a user namespace the kernel
		// refuses a sysfs less restricted than the one already visible.
		flags |= unix.MS_RDONLY
	case "tmpfs":
		data = "size=64k,mode=0700"
	}
	if err := unix.Mount(fstype, target, fstype, flags, data); err != nil {
		return "fail " + probes.Errno(err), nil
	}
	if err := unix.Unmount(target, 0); err != nil {
		_ = unix.Unmount(target, unix.MNT_DETACH)
		return "ok umount " + probes.Errno(err), nil
	}
	return "ok", nil
}
