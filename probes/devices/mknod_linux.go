//go:build linux

package devices

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes"
)

func runMknod(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	if env.TempDir == "" {
		return o, errors.New("devices.mknod needs a scratch directory (run it as an active probe)")
	}

	null := filepath.Join(env.TempDir, "kprobe-null")
	err := unix.Mknod(null, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3)))
	o.Note("mknod "+null+" c 1 3", "", err)
	o.Set("dev.mknod", MknodTri(err))
	if err == nil {
		defer remove(o, null)
		fd, oerr := unix.Open(null, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if oerr == nil {
			_ = unix.Close(fd)
		}
		o.Note("open "+null+" O_RDWR", "", oerr)
		o.Set("dev.mknod_open", OpenTri(oerr))
	}

	wh := filepath.Join(env.TempDir, "kprobe-whiteout")
	err = unix.Mknod(wh, unix.S_IFCHR, 0)
	o.Note("mknod "+wh+" c 0 0", "", err)
	wt := MknodTri(err)
	o.Set("dev.mknod_whiteout", wt)
	if err == nil {
		defer remove(o, wh)
	}
	o.Summary = mknodSummary(o.Facts)
	if wt == probes.No {
		o.Find(CodeWhiteoutDenied, "mknod of an overlay whiteout (c 0 0) gives "+probes.Errno(err),
			probes.Evidence{Source: "mknod c 0 0", Errno: probes.Errno(err)})
	}
	return o, nil
}

func remove(o *probes.Observation, p string) {
	if err := os.Remove(p); err != nil {
		o.Note("remove "+p, "", err)
	}
}
