//go:build linux

package hoststate

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// loadModuleFile loads one module file with finit_module(2), as modprobe
// does after resolving dependencies; a compressed file is handed to the
// kernel to decompress (Linux 6.4+). Loaded already (EEXIST) is fine.
func loadModuleFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if !strings.HasSuffix(path, ".ko") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(int(f.Fd()), "", flags); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}

// unloadModule is delete_module(2) with O_NONBLOCK: it fails rather than
// waits when the module became busy since moduleInUse looked.
func unloadModule(name string) error { return unix.DeleteModule(name, unix.O_NONBLOCK) }

// kernelRelease is uname -r: the directory of /lib/modules to load from.
func kernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}
