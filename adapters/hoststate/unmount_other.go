//go:build !linux

package hoststate

import "errors"

func unmount(string) error { return errors.ErrUnsupported }
