//go:build !linux

package filesystems

import (
	"errors"

	"github.com/moby/sys/mountinfo"
)

// parseLine needs moby/sys/mountinfo's Linux parser.
func parseLine(string) (*mountinfo.Info, error) { return nil, errors.ErrUnsupported }
