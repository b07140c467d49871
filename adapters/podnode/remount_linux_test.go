package podnode

import (
	"testing"

	"golang.org/x/sys/unix"
)

// /proc is mounted nosuid, nodev and noexec everywhere this runs (hosts,
// containers, bwrap, gVisor): a read-only remount of a bind of it in a
// user namespace must repeat them, or the kernel says EPERM.
func TestLockedFlagsRepeatsTheMountsFlags(t *testing.T) {
	var fs unix.Statfs_t
	if err := unix.Statfs("/proc", &fs); err != nil {
		t.Skip(err)
	}
	got := lockedFlags("/proc")
	for st, ms := range map[int64]uintptr{unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV, unix.ST_NOEXEC: unix.MS_NOEXEC} {
		if int64(fs.Flags)&st != 0 && got&ms == 0 {
			t.Errorf("lockedFlags(/proc) = %#x: /proc has statfs flag %#x but the remount would drop %#x", got, st, ms)
		}
	}
	if got&unix.MS_RDONLY != 0 {
		t.Errorf("lockedFlags(/proc) = %#x: read-only is the caller's choice, not a locked flag", got)
	}
}
