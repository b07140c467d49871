package imagestore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// NewRoot gives one container its own writable root at dir (which must not
// exist), made from img: directories, symlinks and device nodes are made
// anew; regular files are cloned where the filesystem shares extents
// (FICLONE: btrfs, XFS), else copied (copy_file_range where the kernel
// has it). A file is hard-linked to the image's only where the container
// cannot change the shared copy: this process is not root, the file is not
// its own and nobody may write it. Hard links inside the image stay hard
// links. Ownership is kept where chown works, as in the image otherwise.
func (s *Store) NewRoot(img *Image, dir string) error {
	if img == nil || img.Root == "" {
		return errors.New("imagestore: NewRoot: no image")
	}
	src, err := filepath.Abs(img.Root)
	if err != nil {
		return err
	}
	if filepath.Dir(src) != filepath.Join(s.o.Dir, "roots") {
		return fmt.Errorf("imagestore: NewRoot: %s is not a root of the store in %s", img.Root, s.o.Dir)
	}
	dst, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return fmt.Errorf("imagestore: NewRoot: %w", err)
	}
	// Record before copying, so that RemoveRoot can clean up a copy that
	// failed half-way.
	if err := os.WriteFile(s.madePath(dst), []byte(dst), 0o600); err != nil {
		os.Remove(dst)
		return err
	}
	if err := copyTree(src, dst); err != nil {
		if rerr := s.RemoveRoot(dst); rerr != nil {
			return fmt.Errorf("imagestore: NewRoot: %w (and removing the partial copy: %v)", err, rerr)
		}
		return fmt.Errorf("imagestore: NewRoot: %w", err)
	}
	return nil
}

// RemoveRoot deletes a root NewRoot made, and refuses any other directory.
// A root with a mount under it (a volume bind-mounted into it) is left
// alone: deleting through the mount would delete the volume's contents.
func (s *Store) RemoveRoot(dir string) error {
	dst, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	marker := s.madePath(dst)
	b, err := os.ReadFile(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("imagestore: RemoveRoot: %s was not made by NewRoot", dst)
	}
	if err != nil {
		return err
	}
	if string(b) != dst {
		return fmt.Errorf("imagestore: RemoveRoot: record of %s names %q", dst, b)
	}
	if err := checkNoMounts(dst); err != nil {
		return fmt.Errorf("imagestore: RemoveRoot: %w", err)
	}
	if err := removeTree(dst); err != nil {
		return err
	}
	return os.Remove(marker)
}

func (s *Store) madePath(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(s.o.Dir, "made", hex.EncodeToString(sum[:]))
}
