//go:build !linux || !amd64

package bindtrace

import (
	"errors"
	"net/netip"
)

// Supported says whether this build can trace.
const Supported = false

// Exec is not available here.
func Exec(string, []string, []string, netip.Addr, []netip.AddrPort, Shift) (int, error) {
	return -1, errors.New("bindtrace: linux/amd64 only")
}
