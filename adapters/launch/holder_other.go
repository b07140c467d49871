//go:build !linux

package launch

import "syscall"

var errAddrInUse = syscall.EADDRINUSE

func holder(int) string { return "" }
