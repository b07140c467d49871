//go:build !linux

package shims

import (
	"context"
	"syscall"
)

// NamespaceAttr is empty off Linux: there are no mount namespaces.
func NamespaceAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// PrivateNS needs Linux.
func PrivateNS() error { return ErrUnsupported }

// DefaultSysctls is KubeletSysctls off Linux.
func DefaultSysctls() map[string]string {
	m := map[string]string{}
	for k, v := range KubeletSysctls() {
		m[k] = v
	}
	return m
}

func currentMountNS() string                            { return "" }
func nsGone(string) error                               { return nil }
func undoStep(Step) error                               { return ErrUnsupported }
func unsupported(context.Context, *Env, *Applied) error { return ErrUnsupported }

var (
	applyKmsg           = unsupported
	applyRshared        = unsupported
	applyCgroupEvacuate = unsupported
	applyTmpfsDataDir   = unsupported
	applyFakeSysctls    = unsupported
	applyRuntimeWrapper = unsupported
)
