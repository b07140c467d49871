//go:build !linux

package datadir

import "errors"

// Purge needs Linux (openat2): elsewhere it refuses rather than risk
// crossing a mount point.
func Purge(dir string) error {
	if err := Check(dir); err != nil {
		return err
	}
	return errors.New("stop --purge is supported on Linux only; remove " + dir + " by hand")
}
