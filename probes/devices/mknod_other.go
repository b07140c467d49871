//go:build !linux

package devices

import (
	"context"
	"errors"

	"github.com/kprobe/kprobe/probes"
)

func runMknod(context.Context, *probes.Env) (*probes.Observation, error) {
	return nil, errors.ErrUnsupported
}
