package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func refused(t *testing.T, err error, want string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want a refusal saying %q", err, want)
	}
}

// The findings: --data-dir "", / and a home directory were accepted.
func TestValidateRefusesDangerousPaths(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	_, err := Validate("")
	refused(t, err, "empty")
	_, err = Validate("relative/dir")
	refused(t, err, "absolute")
	_, err = Validate("/")
	refused(t, err, "root directory")
	_, err = Validate("//")
	refused(t, err, "root directory")
	_, err = Validate(home + "/")
	refused(t, err, "home directory")
	if d, err := Validate(filepath.Join(home, "kprobe")); err != nil || d != filepath.Join(home, "kprobe") {
		t.Fatalf("a directory inside home: %q %v", d, err)
	}
}

// The finding: a symlinked data dir was "removed" while its target (CA
// key, etcd) stayed.
func TestSymlinkedDataDirIsRefusedWithItsTarget(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "real")
	if err := Create(real); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	refused(t, Create(link), "resolves to "+real)
	refused(t, Purge(link), "resolves to "+real)
	if _, err := os.Stat(filepath.Join(real, MarkerName)); err != nil {
		t.Fatalf("the target was touched: %v", err)
	}
}

// The finding: stop --purge deleted a directory kprobe never made.
func TestOnlyAMarkedDirectoryIsPurged(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "thesis.tex")
	if err := os.WriteFile(precious, []byte("years of work"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused(t, Create(dir), "did not write")
	if err := Purge(dir); !errors.Is(err, ErrNotMarked) {
		t.Fatalf("purge of an unmarked directory: %v", err)
	}
	if _, err := os.Stat(precious); err != nil {
		t.Fatal("the file went:", err)
	}
	// A marker copied from a real data dir does not make it kprobe's.
	other := filepath.Join(t.TempDir(), "d")
	if err := Create(other); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(other, MarkerName))
	if err := os.WriteFile(filepath.Join(dir, MarkerName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Purge(dir); !errors.Is(err, ErrNotMarked) || !strings.Contains(err.Error(), "another directory") {
		t.Fatalf("purge with a copied marker: %v", err)
	}
	if _, err := os.Stat(precious); err != nil {
		t.Fatal("the file went:", err)
	}
}

func TestCreateNewAndEmptyThenPurge(t *testing.T) {
	parent := t.TempDir()
	fresh := filepath.Join(parent, "a", "b")
	if err := Create(fresh); err != nil {
		t.Fatal(err)
	}
	if err := Create(fresh); err != nil {
		t.Fatalf("a data dir kprobe made is accepted again: %v", err)
	}
	empty := filepath.Join(parent, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Create(empty); err != nil {
		t.Fatalf("an empty directory is adopted: %v", err)
	}
	// What a cluster leaves, and a symlink an attacker planted that
	// points out of the data dir.
	outside := filepath.Join(parent, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"pki", "etcd/member/snap", "logs"} {
		if err := os.MkdirAll(filepath.Join(fresh, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(fresh, "pki", "ca.key"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(fresh, "logs", "evil")); err != nil {
		t.Fatal(err)
	}
	if err := Purge(fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(fresh); !os.IsNotExist(err) {
		t.Fatalf("%s is still there: %v", fresh, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Fatal("purge followed the symlink out:", err)
	}
}
