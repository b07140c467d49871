//go:build !linux

package imagestore

import "errors"

// Process pods are Linux-only; other platforms build but cannot copy roots.
func copyTree(src, dst string) error { return errors.New("container roots need Linux") }

func checkNoMounts(dir string) error { return nil }
