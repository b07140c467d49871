// Package bounded reads files kprobe does not trust (profiles, reports,
// captures, and the /proc and /sys files probes read) with a size limit
// per kind of file, and only when they are regular files: a FIFO, a
// device such as /dev/zero, an 8 GiB sparse file or a 300 MB mountinfo is
// an error, never an out-of-memory.
package bounded

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// Limits, one per kind of file. Real files are far smaller: a profile
// is a few KB, a report or a launch record 150 KB, a capture's JSON 20 KB,
// a mountinfo of a busy host 1 MB (about 150 bytes a mount).
const (
	KernelFile  int64 = 1 << 20  // a /proc or /sys file, live or in a capture
	Mountinfo   int64 = 8 << 20  // /proc/<pid>/mountinfo and mounts
	Profile     int64 = 1 << 20  // a profile (TOML)
	Report      int64 = 16 << 20 // a JSON report, read by report and report merge
	CaptureJSON int64 = 4 << 20  // syscalls.json, active.json, errors.json, PROVENANCE.toml
	RunRecord   int64 = 64 << 20 // what launch, verify and soak wrote into the data dir
	DirEntries        = 1 << 16  // entries of one directory listing
)

// ErrTooLarge is returned for a file or stream over its limit.
var ErrTooLarge = errors.New("larger than kprobe reads")

// ErrNotRegular is returned for anything but a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Limit is the limit for a file of a capture or the live root, by its
// name: a capture's own records, a mount table, or any other /proc or /sys
// file.
func Limit(name string) int64 {
	switch path.Base(name) {
	case "mountinfo", "mounts":
		return Mountinfo
	case "syscalls.json", "active.json", "errors.json", "PROVENANCE.toml":
		return CaptureJSON
	}
	return KernelFile
}

// ReadFile reads a regular file of at most limit bytes. It opens without
// blocking, so a FIFO put where a file should be is refused, not waited on.
func ReadFile(name string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readRegular(f, name, limit)
}

func readRegular(f fs.File, name string, limit int64) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrNotRegular}
	}
	if fi.Size() > limit {
		return nil, tooLarge(name, limit)
	}
	data, err := ReadAll(f, limit)
	if errors.Is(err, ErrTooLarge) {
		return nil, tooLarge(name, limit)
	}
	return data, err
}

// ReadAll reads r (standard input) up to limit bytes; more is an error.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w (%s)", ErrTooLarge, Size(limit))
	}
	return data, nil
}

func tooLarge(name string, limit int64) error {
	return &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w (%s)", ErrTooLarge, Size(limit))}
}

// Size renders a limit for messages: "1 MiB".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
