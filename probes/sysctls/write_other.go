//go:build !linux

package sysctls

// writeBack is Linux-only; WriteProbe.Run reports errors.ErrUnsupported.
var writeBack writeBackFunc
