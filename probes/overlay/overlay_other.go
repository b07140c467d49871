//go:build !linux

package overlay

import (
	"context"
	"errors"

	"github.com/kprobe/kprobe/probes"
)

// Ops returns no ops off Linux.
func Ops() map[string]probes.Op { return map[string]probes.Op{} }

// Run needs Linux.
func (Probe) Run(context.Context, *probes.Env) (*probes.Observation, error) {
	return nil, errors.ErrUnsupported
}
