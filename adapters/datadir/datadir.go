// Package datadir decides whether a directory is a kprobe data dir, and
// makes and removes one safely.
//
// Why: stop --purge deletes the data dir, and capture writes into
// a directory; a typo (--data-dir ~, --data-dir /, --data-dir "") must not
// turn that into deleting a home directory. A data dir is kprobe's only
// when kprobe made it: Create writes a marker holding the directory's
// identity (device and inode), and Check, which stop, purge and capture
// call, insists on a marker that names this very directory. A symlinked
// data dir is refused with the path it resolves to, so that the user
// names the real one.
package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// MarkerName is the file Create writes in a data dir.
const MarkerName = ".kprobe-data-dir"

// Marker is the content of MarkerName.
type Marker struct {
	// Dev and Ino identify the directory the marker was written for: a
	// marker copied into another directory does not make it kprobe's.
	Dev     uint64    `json:"dev"`
	Ino     uint64    `json:"ino"`
	Created time.Time `json:"created"`
	Note    string    `json:"note"`
}

// Error is a data dir kprobe refuses to use: bad input, the fix named.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func refuse(format string, a ...any) error { return &Error{fmt.Sprintf(format, a...)} }

// ErrNotMarked: the directory exists but kprobe did not make it.
var ErrNotMarked = errors.New("not a kprobe data dir")

// Validate checks a data dir's path without touching it: absolute, not
// "/", not the home directory, not a symlink. It returns the cleaned path.
func Validate(dir string) (string, error) {
	if dir == "" {
		return "", refuse(`--data-dir "" is empty: name a directory, e.g. --data-dir /var/lib/kprobe`)
	}
	if !filepath.IsAbs(dir) {
		return "", refuse("--data-dir %q must be an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	if dir == "/" {
		return "", refuse("--data-dir / is the root directory: name a directory of its own, e.g. --data-dir /var/lib/kprobe")
	}
	for _, h := range homes() {
		if dir == h {
			return "", refuse("--data-dir %s is a home directory: name a directory of its own, e.g. --data-dir %s", dir, filepath.Join(dir, "kprobe"))
		}
	}
	// Every component, not just the last: a purge must not be redirected.
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		return "", refuse("--data-dir %s resolves to %s through a symlink: pass --data-dir %s (kprobe does not follow symlinked data dirs)", dir, real, real)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", refuse("--data-dir %s: %v", dir, err)
	}
	return dir, nil
}

func homes() []string {
	var out []string
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		out = append(out, filepath.Clean(h))
	}
	if h := os.Getenv("HOME"); h != "" {
		out = append(out, filepath.Clean(h))
	}
	return out
}

// Create makes dir a data dir, or accepts it when it is one already: it
// creates a missing directory, adopts an empty one, and refuses one that
// holds anything without kprobe's marker.
func Create(dir string) error {
	dir, err := Validate(dir)
	if err != nil {
		return err
	}
	if err := Check(dir); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotMarked) && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("data dir %s cannot be created: %w", dir, err)
		}
	case err != nil:
		return refuse("data dir %s: %v", dir, err)
	case len(ents) > 0:
		return refuse("data dir %s holds files kprobe did not write (no %s marker): pass an empty or new directory", dir, MarkerName)
	}
	return Mark(dir)
}

// Mark writes the marker for dir as it is now. Create calls it; launch
// calls it again after mounting a tmpfs on the data dir (a new identity).
func Mark(dir string) error {
	dev, ino, err := identity(dir)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(Marker{Dev: dev, Ino: ino, Created: time.Now().UTC(),
		Note: "written by kprobe: this directory is a kprobe data dir that `kprobe stop --purge` may delete"}, "", "  ")
	tmp := filepath.Join(dir, MarkerName+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, MarkerName))
}

// Check says whether dir is a data dir kprobe made: a valid path holding
// a marker written for this very directory. ErrNotMarked (wrapped) when
// it exists without one; os.ErrNotExist when it does not exist.
func Check(dir string) error {
	dir, err := Validate(dir)
	if err != nil {
		return err
	}
	dev, ino, err := identity(dir)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, MarkerName), os.O_RDONLY|oNoFollow, 0)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w (no %s marker: kprobe did not create it)", dir, ErrNotMarked, MarkerName)
	}
	if err != nil {
		return fmt.Errorf("%s: %w (marker: %v)", dir, ErrNotMarked, err)
	}
	defer f.Close()
	var m Marker
	if err := json.NewDecoder(io.LimitReader(f, 4096)).Decode(&m); err != nil {
		return fmt.Errorf("%s: %w (unreadable marker: %v)", dir, ErrNotMarked, err)
	}
	if m.Dev != dev || m.Ino != ino {
		return fmt.Errorf("%s: %w (its marker was written for another directory: copied or moved)", dir, ErrNotMarked)
	}
	return nil
}
