package procfs

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moby/sys/capability"
)

// ParseCapEff returns the effective capability mask of a
// /proc/<pid>/status text (its "CapEff:" line); found is false when the
// text has no such line.
func ParseCapEff(r io.Reader) (mask uint64, found bool, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapEff:")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return 0, false, fmt.Errorf("CapEff %q: %w", strings.TrimSpace(v), err)
		}
		return n, true, nil
	}
	return 0, false, sc.Err()
}

// HasCap reports whether a capability mask holds c.
func HasCap(mask uint64, c capability.Cap) bool {
	return c >= 0 && c < 64 && mask&(1<<uint(c)) != 0
}

// SelfHasCap reports whether this process has c in its effective set, as
// moby/sys/capability reads it from the live /proc/self/status; false
// when it cannot tell (not Linux, no /proc). Probes read status through
// their Env and ParseCapEff instead, so that captures replay.
func SelfHasCap(c capability.Cap) bool {
	caps, err := capability.NewPid2(0)
	if err != nil || caps.Load() != nil {
		return false
	}
	return caps.Get(capability.EFFECTIVE, c)
}
