//go:build linux && cgo

package container

// nsenter's C constructor joins and creates the container's namespaces in
// "runc init" before the Go runtime starts; without it libcontainer cannot
// start a container.
import _ "github.com/opencontainers/runc/libcontainer/nsenter"

const haveNsenter = true
