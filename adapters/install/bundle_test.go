package install_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kprobe/kprobe/adapters/install"
)

func TestBundleRoundTrip(t *testing.T) {
	src := sources(t)
	for _, name := range []string{"engine.tar.gz", "engine.tar"} {
		bundle := filepath.Join(t.TempDir(), name)
		if err := install.CreateBundle(bundle, src); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "engine")
		if err := install.InstallBundle(bundle, dir); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for dest, s := range src {
			got, err := os.ReadFile(filepath.Join(dir, dest))
			want, _ := os.ReadFile(s)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %s differs (%v)", name, dest, err)
			}
			fi, _ := os.Stat(filepath.Join(dir, dest))
			if exec := fi.Mode()&0o111 != 0; exec == strings.HasPrefix(dest, "images/") {
				t.Errorf("%s: %s has mode %v", name, dest, fi.Mode())
			}
		}
	}
}

func TestBundleRefusesCorruption(t *testing.T) {
	src := sources(t)
	bundle := filepath.Join(t.TempDir(), "engine.tar")
	if err := install.CreateBundle(bundle, src); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(bundle)
	// Alter one byte inside kubelet's content.
	i := bytes.Index(data, bytes.Repeat([]byte("kubelet"), 10))
	if i < 0 {
		t.Fatal("kubelet's content not found in the bundle")
	}
	data[i] ^= 0xff
	if err := os.WriteFile(bundle, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err := install.InstallBundle(bundle, dir)
	if !errors.Is(err, install.ErrInput) || !strings.Contains(err.Error(), ".sha256 says") {
		t.Fatalf("a bundle that does not match its .sha256: %v", err)
	}
	// Without the outer digest, the bundle's own SHA256SUMS catches it.
	os.Remove(bundle + ".sha256")
	err = install.InstallBundle(bundle, dir)
	if !errors.Is(err, install.ErrInput) || !strings.Contains(err.Error(), "kubelet has sha256") {
		t.Fatalf("a corrupt member: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kubelet")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the corrupt kubelet was installed: %v", err)
	}
}

func TestBundleRefusesPathsOutsideTheLayout(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	sums := strings.Repeat("a", 64) + "  ../evil\n"
	tw.WriteHeader(&tar.Header{Name: install.BundleSums, Mode: 0o644, Size: int64(len(sums)), Typeflag: tar.TypeReg})
	tw.Write([]byte(sums))
	tw.WriteHeader(&tar.Header{Name: "../evil", Mode: 0o755, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	bundle := filepath.Join(t.TempDir(), "evil.tar")
	os.WriteFile(bundle, b.Bytes(), 0o644)
	dir := filepath.Join(t.TempDir(), "engine")
	err := install.InstallBundle(bundle, dir)
	if !errors.Is(err, install.ErrInput) || !strings.Contains(err.Error(), "not a plain relative path") {
		t.Fatalf("../evil: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
		t.Error("../evil was written")
	}
}

// TestBundleRefusesHostileChecksumFile: bundle.sha256 beside a bundle is a
// file anyone may have put there. /dev/zero, an 8 GiB sparse file or a
// FIFO there is refused at once, not read into memory (issue 11).
func TestBundleRefusesHostileChecksumFile(t *testing.T) {
	src := sources(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "engine.tar")
	if err := install.CreateBundle(bundle, src); err != nil {
		t.Fatal(err)
	}
	sums := bundle + ".sha256"
	for name, plant := range map[string]func() error{
		"/dev/zero": func() error { return os.Symlink("/dev/zero", sums) },
		"8 GiB":     func() error { return os.WriteFile(sums, nil, 0o644) },
		"FIFO":      func() error { return syscall.Mkfifo(sums, 0o644) },
	} {
		os.Remove(sums)
		if err := plant(); err != nil {
			t.Fatal(err)
		}
		if name == "8 GiB" {
			if err := os.Truncate(sums, 8<<30); err != nil {
				t.Fatal(err)
			}
		}
		err := install.InstallBundle(bundle, filepath.Join(t.TempDir(), "engine"))
		if err == nil || !strings.Contains(err.Error(), ".sha256") {
			t.Errorf("%s as %s: %v", name, filepath.Base(sums), err)
		}
	}
}
