//go:build !linux

package container

import (
	"context"
	"errors"

	"github.com/kprobe/kprobe/probes"
)

// InitIfChild does nothing off Linux.
func InitIfChild() {}

// Available is false off Linux.
func Available() bool { return false }

// Run needs Linux.
func (Probe) Run(context.Context, *probes.Env) (*probes.Observation, error) {
	return nil, errors.ErrUnsupported
}
