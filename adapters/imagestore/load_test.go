package imagestore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"

	"github.com/kprobe/kprobe/adapters/images"
)

// imagesDir is where hack/images put its archives: $KPROBE_IMAGES_DIR, or
// the worktree's bin/images (a link to the shared build).
func imagesDir() string {
	if d := os.Getenv("KPROBE_IMAGES_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "bin", "images")
}

// TestLoadBusybox loads the busybox archive hack/images builds and finds
// it again with the pull policy Never, as a process pod would.
func TestLoadBusybox(t *testing.T) {
	archive := filepath.Join(imagesDir(), "busybox.tar")
	if _, err := os.Stat(archive); err != nil {
		t.Skipf("no %s (hack/images not built): %v", archive, err)
	}
	s := openStore(t, Options{})
	refs, err := s.Load(context.Background(), archive)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0] != images.BusyboxName {
		t.Fatalf("refs = %v, want [%s]", refs, images.BusyboxName)
	}
	// The short name a pod spec uses resolves to the same image.
	img, err := s.Ensure(context.Background(), "busybox:1.35", corev1.PullNever, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(img.Root, "bin", "busybox"))
	if err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("bin/busybox: %v %v", st, err)
	}
}

// TestLoadOCIArchive loads an archive made by the code hack/images uses.
func TestLoadOCIArchive(t *testing.T) {
	var buf bytes.Buffer
	err := images.BuildOCI(&buf, images.Image{
		Name: "registry.kprobe.test/tools/hello:1.0",
		Files: []images.File{
			{Path: "/bin/hello", Data: []byte("#!/bin/sh\necho hello\n"), Mode: 0o755},
			{Path: "/bin/hi", Symlink: "hello"},
		},
		Cmd: []string{"/bin/hello"},
	})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "hello.tar")
	os.WriteFile(archive, buf.Bytes(), 0o600)
	s := openStore(t, Options{})
	refs, err := s.Load(context.Background(), archive)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0] != "registry.kprobe.test/tools/hello:1.0" {
		t.Fatalf("refs = %v", refs)
	}
	img, err := s.Ensure(context.Background(), refs[0], corev1.PullNever, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := os.Readlink(filepath.Join(img.Root, "bin", "hi")); l != "hello" || img.Config.Cmd[0] != "/bin/hello" {
		t.Errorf("bin/hi -> %q, config %+v", l, img.Config)
	}
}

// TestLoadLayoutAndDockerArchive loads an OCI layout directory and a
// docker-archive tarball, both written by go-containerregistry here; the
// same image through both shares one root.
func TestLoadLayoutAndDockerArchive(t *testing.T) {
	img := appImage(t, "v7")
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{annotationOCIRefName: "registry.kprobe.test/app:v7"})); err != nil {
		t.Fatal(err)
	}
	// An unnamed image in the layout is skipped.
	if err := lp.AppendImage(appImage(t, "unnamed")); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("registry.kprobe.test/app:docker")
	docker := filepath.Join(t.TempDir(), "app.tar")
	if err := tarball.MultiRefWriteToFile(docker, map[name.Reference]v1.Image{tag: img}); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, Options{})
	a, err := s.Load(context.Background(), dir)
	if err != nil || len(a) != 1 || a[0] != "registry.kprobe.test/app:v7" {
		t.Fatalf("layout: %v %v", a, err)
	}
	b, err := s.Load(context.Background(), docker)
	if err != nil || len(b) != 1 || b[0] != "registry.kprobe.test/app:docker" {
		t.Fatalf("docker archive: %v %v", b, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %+v %v", list, err)
	}
	if list[0].Root != list[1].Root || readRoot(t, &list[0], "etc/version") != "v7" {
		t.Errorf("roots %s and %s, want one shared root", list[0].Root, list[1].Root)
	}
	if _, err := s.Load(context.Background(), filepath.Join(dir, "index.json")); err == nil {
		t.Error("loading a non-archive succeeded")
	}
}
