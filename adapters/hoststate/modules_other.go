//go:build !linux

package hoststate

import "errors"

var errNoModules = errors.New("kernel modules are Linux's")

func loadModuleFile(string) error    { return errNoModules }
func unloadModule(string) error      { return errNoModules }
func kernelRelease() (string, error) { return "", errNoModules }
