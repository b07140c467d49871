//go:build !linux

package namespaces

import (
	"context"
	"errors"

	"github.com/kprobe/kprobe/probes"
)

// Run needs Linux namespaces.
func (Probe) Run(context.Context, *probes.Env) (*probes.Observation, error) {
	return nil, errors.ErrUnsupported
}

// Ops returns the grandchild ops of this package; off Linux they only
// report that they are unsupported.
func Ops() map[string]probes.Op {
	unsupported := func([]string) (string, error) { return "", errors.ErrUnsupported }
	return map[string]probes.Op{opNoop: unsupported, opMount: unsupported}
}
