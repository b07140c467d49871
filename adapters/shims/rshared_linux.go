//go:build linux

package shims

import (
	"context"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// The kubelet needs the mounts it makes under its root dir to propagate to
// containers (and back): "path ... is mounted on ... but it is not a shared
// mount" (k3d#1063, kind fix_mount). In the engine's private namespace / is
// made rshared; the peer groups are new ones, so nothing reaches the
// launcher's namespace (PrivateNS made it a slave first).

func applyRshared(_ context.Context, _ *Env, a *Applied) error {
	ms, err := mountinfo.GetMounts(nil)
	if err != nil {
		return err
	}
	// A mount covered at its root by another one at the same mount point
	// is unreachable: nothing can be mounted in it, and its propagation
	// could not be restored by path. Each reachable mount is made shared on
	// its own (not MS_REC), so that Undo restores exactly what it changed.
	covered := coveredMounts(ms)
	prev := map[string]string{}
	hidden := 0
	for _, m := range ms {
		p := propagationOf(m.Optional)
		switch {
		case strings.Contains(p, "shared"):
		case covered[m.ID]:
			hidden++
		default:
			prev[m.Mountpoint] = p
		}
	}
	if len(prev) == 0 {
		a.note("every reachable mount is shared already")
		return nil
	}
	done := map[string]string{}
	var failed []string
	var firstErr error
	// Parents before children, for a readable order of errors.
	mps := make([]string, 0, len(prev))
	for mp := range prev {
		mps = append(mps, mp)
	}
	sort.Strings(mps)
	for _, mp := range mps {
		if e := unix.Mount("", mp, "", unix.MS_SHARED, ""); e != nil {
			failed = append(failed, mp+": "+e.Error())
			if firstErr == nil {
				firstErr = e
			}
			continue
		}
		done[mp] = prev[mp]
	}
	if len(done) > 0 {
		a.add(Step{Op: "propagation", Path: "/", Propagation: done, NS: true})
	}
	if len(done) == 0 {
		return &mountErr{"make / rshared (" + strings.Join(failed, "; ") + ")", firstErr}
	}
	a.note("made %d mounts shared (%d were shared already, %d covered ones left alone)", len(done), len(ms)-len(prev)-hidden, hidden)
	if len(failed) > 0 {
		a.note("not shared: %s", strings.Join(failed, "; "))
	}
	return nil
}

// coveredMounts returns the IDs of mounts covered at their root by a mount
// at the same mount point.
func coveredMounts(ms []*mountinfo.Info) map[int]bool {
	covered := map[int]bool{}
	byID := map[int]*mountinfo.Info{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	for _, m := range ms {
		// gVisor lists its root mount as its own parent ("10 10 0:10 / /"):
		// that covers nothing.
		if p := byID[m.Parent]; p != nil && p != m && p.Mountpoint == m.Mountpoint {
			covered[p.ID] = true
		}
	}
	return covered
}

type mountErr struct {
	what string
	err  error
}

func (e *mountErr) Error() string { return e.what + ": " + e.err.Error() }
func (e *mountErr) Unwrap() error { return e.err }
