package imagestore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestNewRoot: a container's root is its own (writes do not reach the
// image), hard links inside the image stay links, and RemoveRoot deletes
// only roots NewRoot made.
func TestNewRoot(t *testing.T) {
	img := testImage(t, v1cfg(),
		tarBytes(t, dir("etc/"), file("etc/conf", "image"), hardlink("etc/conf.link", "etc/conf"),
			symlink("etc/abs", "/etc/conf"), tent{name: "ro/", typ: '5', mode: 0o555}, file("ro/f", "x")))
	s := openStore(t, Options{})
	ref := "registry.kprobe.test/app:root"
	if err := s.importImage(context.Background(), img, ref); err != nil {
		t.Fatal(err)
	}
	im, err := s.Ensure(context.Background(), ref, corev1.PullNever, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctr := filepath.Join(t.TempDir(), "ctr1")
	if err := s.NewRoot(im, ctr); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctr, "etc", "conf"), []byte("container"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := readRoot(t, im, "etc/conf"); got != "image" {
		t.Errorf("the container's write reached the image: %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(ctr, "etc", "conf.link")); string(b) != "container" {
		t.Errorf("hard link in the copy is not a link: %q", b)
	}
	if l, _ := os.Readlink(filepath.Join(ctr, "etc", "abs")); l != "/etc/conf" {
		t.Errorf("symlink = %q", l)
	}
	if st, err := os.Stat(filepath.Join(ctr, "ro")); err != nil || st.Mode().Perm() != 0o555 {
		t.Errorf("ro/ = %v %v", st, err)
	}
	if err := s.NewRoot(im, ctr); err == nil {
		t.Error("NewRoot over an existing directory succeeded")
	}
	other := t.TempDir()
	if err := s.RemoveRoot(other); err == nil || !strings.Contains(err.Error(), "not made by NewRoot") {
		t.Errorf("RemoveRoot of a foreign dir: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("foreign dir touched: %v", err)
	}
	if err := s.RemoveRoot(ctr); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(ctr); !os.IsNotExist(err) {
		t.Errorf("root still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(im.Root, "etc", "conf")); err != nil {
		t.Errorf("image damaged by RemoveRoot: %v", err)
	}
}
