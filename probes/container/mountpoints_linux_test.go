package container

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kprobe/kprobe/probes"
)

// The configurations share one rootfs and start at once; a mount point
// libcontainer had to create there itself raced between them ("openat
// kprobe-op: file exists" in the cgroup v2 VM). prepare makes them all.
func TestPrepareMakesEveryMountPoint(t *testing.T) {
	o := probes.NewObservation()
	rootfs, exe, err := prepare(t.TempDir(), o)
	if err != nil {
		t.Fatalf("prepare: %v (%v)", err, o.Evidence)
	}
	for _, mode := range Modes {
		for _, m := range newConfig(mode, rootfs, exe).Mounts {
			fi, err := os.Lstat(filepath.Join(rootfs, m.Destination))
			switch {
			case err != nil:
				t.Errorf("%s: mount point %s: %v", mode, m.Destination, err)
			case m.Destination == exeInRootfs && !fi.Mode().IsRegular():
				t.Errorf("%s: %s is %v, want a file to bind the binary on", mode, m.Destination, fi.Mode())
			case m.Destination != exeInRootfs && !fi.IsDir():
				t.Errorf("%s: %s is %v, want a directory", mode, m.Destination, fi.Mode())
			}
		}
	}
}
