//go:build !linux

package probes

import (
	"context"
	"errors"
	"syscall"
)

// RegisterChildren is a no-op off Linux.
func RegisterChildren([]Probe) {}

// ChildRunner cannot run active probes off Linux.
type ChildRunner struct{ DataDir, Exe string }

// ProbeChildName is the executable that runs active probes in children.
const ProbeChildName = "kprobe-probe"

// ProbeChildExe finds no probe children off Linux.
func ProbeChildExe() string { return "" }

// Prepare does nothing off Linux.
func (*ChildRunner) Prepare([]Probe) {}

// RunActive reports that active probes need Linux.
func (*ChildRunner) RunActive(context.Context, Probe) (*Observation, error) {
	return nil, errors.ErrUnsupported
}

// SpawnOp needs Linux.
func SpawnOp(context.Context, *syscall.SysProcAttr, string, ...string) (string, error) {
	return "", errors.ErrUnsupported
}
