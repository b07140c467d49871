//go:build !linux

package filesystems

import "errors"

func tryDir(dir string) (string, error) { return dir, errors.ErrUnsupported }
