package pki

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// syncWrites makes writeAtomic fsync each file before the rename. It is off:
// on ext4 the fsyncs took a first Ensure from ~3 ms to 16-80 ms (worse on 9p
// and gVisor), and durability across a power loss is not needed, because a
// file lost or truncated by one is "missing" or "corrupt" to the next Ensure,
// which replaces it (with everything that chains to it). Atomicity against
// a crashed or concurrent process comes from the rename alone.
const syncWrites = false

// writeAtomic writes data to path with mode: a temporary file in the same
// directory, created 0600, set to mode, written, closed, renamed over path.
// Readers see the old file or the new one, never a partial one.
func writeAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("pki: write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if syncWrites {
		if err = f.Sync(); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
