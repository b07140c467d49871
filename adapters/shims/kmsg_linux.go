//go:build linux

package shims

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The kubelet's OOM watcher opens /dev/kmsg read-only and stops the
// kubelet when that fails ("open /dev/kmsg: no such file or directory",
// EPERM in a user namespace). A stand-in that reads as empty satisfies it:
// /dev/null bound over the node (claude-code-on-the-web), or a symlink to
// /dev/console where there is no node and no mount permission (kind's
// entrypoint).

const (
	devNull    = "/dev/null"
	devConsole = "/dev/console"
)

func applyKmsg(_ context.Context, env *Env, a *Applied) error {
	p := env.kmsg()
	openErr := tryOpen(p)
	if openErr == nil {
		a.note("%s opens for reading: nothing to do", p)
		a.output("method", "none")
		return nil
	}
	fi, lerr := os.Lstat(p)
	if lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
		if t, _ := os.Readlink(p); t == devConsole || t == devNull {
			a.note("%s is already a symlink to %s", p, t)
			a.output("method", "none")
			return nil
		}
	}
	missing := errors.Is(lerr, os.ErrNotExist)
	if lerr != nil && !missing {
		return lerr
	}
	if !env.PrivateNS {
		a.note("not in a private mount namespace: the stand-in is visible to every process here")
	}
	bindErr := bindNull(a, p, missing)
	if bindErr == nil {
		a.note("%s: %v; bound %s over it", p, openErr, devNull)
		a.output("method", "bind")
		return nil
	}
	if !missing {
		// A node that exists and does not open cannot be replaced by a
		// symlink without deleting it.
		return fmt.Errorf("%s does not open (%v) and %s cannot be bound over it: %w", p, openErr, devNull, bindErr)
	}
	target := devConsole
	if _, err := os.Stat(devConsole); err != nil {
		target = devNull
	}
	if err := os.Symlink(target, p); err != nil {
		return fmt.Errorf("%s is missing; bind %s: %v; symlink to %s: %w", p, devNull, bindErr, target, err)
	}
	created(a, "symlink", p, target)
	a.note("%s is missing and %s cannot be bound (%v): symlinked it to %s", p, devNull, bindErr, target)
	a.output("method", "symlink")
	return nil
}

func tryOpen(p string) error {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// bindNull binds /dev/null over p (creating an empty file to mount on when
// p is missing) and checks the result opens. On failure it leaves nothing.
func bindNull(a *Applied, p string, missing bool) (err error) {
	sub := &Applied{}
	defer func() {
		if err != nil {
			_ = sub.Undo(context.Background())
			return
		}
		a.Steps = append(a.Steps, sub.Steps...)
	}()
	if missing {
		if err := mkdirAll(sub, filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeFileStep(sub, p, nil, 0o600); err != nil {
			return err
		}
	}
	if err := mountStep(sub, devNull, p, "", unix.MS_BIND, "", false); err != nil {
		return err
	}
	// A nodev mount of /dev (some tmpfs /dev) would make the bound node
	// unusable: check it opens.
	if err := tryOpen(p); err != nil {
		return fmt.Errorf("bound but does not open: %w", err)
	}
	return nil
}
