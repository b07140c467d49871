//go:build linux

package network

import (
	"context"

	"github.com/kprobe/kprobe/probes"
)

// RunNetnsUserns runs the active probe through its user namespace
// fallback only, so that a root test can exercise that path.
var RunNetnsUserns = func(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	return runNetns(ctx, env, true)
}
