//go:build linux

package sysctls

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// writeBack opens path write-only and writes data, which must be exactly
// what was just read from it, in one write(2) at offset 0.
var writeBack writeBackFunc = func(path string, data []byte) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n, err := unix.Write(fd, data)
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	if n != len(data) {
		return &os.PathError{Op: "write", Path: path, Err: io.ErrShortWrite}
	}
	return nil
}
