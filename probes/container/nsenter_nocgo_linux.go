//go:build linux && !cgo

package container

// haveNsenter is false in a binary built with CGO_ENABLED=0: nsenter is C.
const haveNsenter = false
