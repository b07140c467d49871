package capture_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/capture"
)

// recordOne returns a Recorder that read one file of a small live tree.
func recordOne(t *testing.T) (*capture.Recorder, string) {
	t.Helper()
	live := t.TempDir()
	if err := os.MkdirAll(filepath.Join(live, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(live, "proc/version"), []byte("Linux version 6.1.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, env := capture.NewRecorder(&probes.Env{Root: os.DirFS(live)})
	if _, err := fs.ReadFile(env.Root, "proc/version"); err != nil {
		t.Fatal(err)
	}
	return rec, live
}

// TestWriteRefusesANonEmptyDir: a capture into a directory that holds
// anything deletes nothing and writes through no planted symlink (it
// used to remove DIR/root and overwrite DIR/PROVENANCE.toml's target).
func TestWriteRefusesANonEmptyDir(t *testing.T) {
	rec, live := recordOne(t)
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "PROVENANCE.toml")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "root"), 0o755); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(dir, "root", "kept")
	if err := os.WriteFile(kept, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := rec.Write(dir, live, capture.Provenance{Name: "test"})
	var de *capture.DirError
	if !errors.As(err, &de) {
		t.Fatalf("Write into a non-empty directory: err = %v, want a DirError", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("a file capture did not write was deleted: %v", err)
	}
}

// TestWriteRefusesRootAndSymlinks: "/" (whose root/ capture used to
// delete) and a directory given as a symlink are refused before anything
// is written.
func TestWriteRefusesRootAndSymlinks(t *testing.T) {
	rec, live := recordOne(t)
	link := filepath.Join(t.TempDir(), "link")
	target := t.TempDir()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"/", "/.", link} {
		if err := capture.CheckDir(dir); err == nil {
			t.Errorf("CheckDir(%q) accepted it", dir)
		}
		var de *capture.DirError
		if err := rec.Write(dir, live, capture.Provenance{Name: "test"}); !errors.As(err, &de) {
			t.Errorf("Write(%q): err = %v, want a DirError", dir, err)
		}
	}
	if ents, _ := os.ReadDir(target); len(ents) != 0 {
		t.Errorf("Write wrote through the symlinked directory: %v", ents)
	}
}

// TestWriteIntoNewAndEmptyDirs: the two directories capture accepts.
func TestWriteIntoNewAndEmptyDirs(t *testing.T) {
	rec, live := recordOne(t)
	for _, dir := range []string{filepath.Join(t.TempDir(), "a", "new"), t.TempDir()} {
		if err := rec.Write(dir, live, capture.Provenance{Name: "test"}); err != nil {
			t.Fatalf("Write(%s): %v", dir, err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "root/proc/version")); err != nil || string(b) != "Linux version 6.1.0\n" {
			t.Errorf("root/proc/version = %q, %v", b, err)
		}
		// The second capture into the same directory is refused.
		var de *capture.DirError
		if err := rec.Write(dir, live, capture.Provenance{Name: "test"}); !errors.As(err, &de) {
			t.Errorf("second Write(%s): err = %v, want a DirError", dir, err)
		}
	}
}

// TestWriteRefusesAnotherUsersDir: an empty directory another user owns
// (and could plant symlinks in while capture writes) is refused. Root only:
// it chowns the directory to nobody.
func TestWriteRefusesAnotherUsersDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to nobody")
	}
	rec, live := recordOne(t)
	dir := t.TempDir()
	nobody := 65534
	if out, err := exec.Command("id", "-u", "nobody").Output(); err == nil {
		nobody, _ = strconv.Atoi(string(out[:len(out)-1]))
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	var de *capture.DirError
	if err := rec.Write(dir, live, capture.Provenance{Name: "test"}); !errors.As(err, &de) {
		t.Fatalf("Write into nobody's directory: err = %v, want a DirError", err)
	}
}
