//go:build linux && !amd64

package sysctltrace

import (
	"errors"
	"syscall"
)

const traceSupported = false

func openPathArg(*syscall.PtraceRegs) (uintptr, bool) { return 0, false }

func installTraceFilter() error { return errors.New("only on amd64") }
