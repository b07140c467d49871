//go:build !linux

package cgroups

import (
	"context"
	"errors"

	"github.com/kprobe/kprobe/probes"
)

func runWrite(context.Context, *probes.Env) (*probes.Observation, error) {
	return nil, errors.ErrUnsupported
}

func join([]string) (string, error) { return "", errors.ErrUnsupported }
