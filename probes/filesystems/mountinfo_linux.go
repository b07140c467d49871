//go:build linux

package filesystems

import (
	"errors"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// parseLine parses one mountinfo line with moby/sys/mountinfo, whose
// reader parser is Linux-only.
func parseLine(line string) (*mountinfo.Info, error) {
	ms, err := mountinfo.GetMountsFromReader(strings.NewReader(line), nil)
	if err != nil {
		return nil, err
	}
	if len(ms) != 1 {
		return nil, errors.New("not one mount in line: " + clip(line))
	}
	return ms[0], nil
}
