//go:build !linux

package procfs

import (
	"testing"

	"github.com/moby/sys/mountinfo"
)

// sameAsMoby needs moby/sys/mountinfo's Linux-only parser.
func sameAsMoby(*testing.T, string, []*mountinfo.Info) {}
