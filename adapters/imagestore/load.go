package imagestore

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Annotations that name the images of an OCI layout: containerd's full
// name (what hack/images and "ctr export" write), and the OCI reference
// name, used only when it is a full reference rather than a bare tag.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationOCIRefName     = "org.opencontainers.image.ref.name"
)

// Load imports a docker-archive tarball ("docker save"), an OCI layout
// directory, or an OCI layout in a tar (what hack/images builds) and
// returns the references it holds, as written in the archive. Images
// without a name are skipped; an archive with none is an error.
func (s *Store) Load(ctx context.Context, path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return s.loadLayout(ctx, path)
	}
	kind, err := archiveKind(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var refs []string
	switch kind {
	case "docker":
		refs, err = s.loadDockerArchive(ctx, path)
	case "oci":
		refs, err = s.loadLayoutTar(ctx, path)
	default:
		err = errors.New("neither a docker archive (manifest.json) nor an OCI layout (index.json)")
	}
	if err == nil && len(refs) == 0 {
		err = errors.New("no named image in the archive")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return refs, nil
}

// archiveKind looks at the tar's top-level names without reading contents.
func archiveKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	kind := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return kind, nil
		}
		if err != nil {
			return "", err
		}
		switch clean(hdr.Name) {
		case "manifest.json":
			return "docker", nil // docker save since 25 writes both; its manifest.json has the tags
		case "index.json":
			kind = "oci"
		}
	}
}

func (s *Store) loadDockerArchive(ctx context.Context, path string) ([]string, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, d := range m {
		for _, tag := range d.RepoTags {
			t, err := name.NewTag(tag)
			if err != nil {
				return nil, fmt.Errorf("tag %q: %w", tag, err)
			}
			img, err := tarball.Image(opener, &t)
			if err != nil {
				return nil, err
			}
			if err := s.importImage(ctx, img, tag); err != nil {
				return nil, err
			}
			refs = append(refs, tag)
		}
	}
	return refs, nil
}

// loadLayoutTar extracts the layout with the same bounded, root-confined
// unpacker as layers, then reads it.
func (s *Store) loadLayoutTar(ctx context.Context, path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tmp, err := s.tmpDir("load")
	if err != nil {
		return nil, err
	}
	defer removeTree(tmp)
	u := newUnpacker(tmp, s.o.MaxImageBytes, s.o.MaxEntries)
	if err := u.apply(f); err != nil {
		return nil, err
	}
	return s.loadLayout(ctx, tmp)
}

func (s *Store) loadLayout(ctx context.Context, dir string) ([]string, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, d := range im.Manifests {
		ref := layoutName(d.Annotations)
		if ref == "" {
			continue
		}
		var img v1.Image
		switch {
		case d.MediaType.IsImage():
			img, err = idx.Image(d.Digest)
		case d.MediaType.IsIndex():
			var child v1.ImageIndex
			if child, err = idx.ImageIndex(d.Digest); err == nil {
				img, err = platformImage(child)
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		if err := s.importImage(ctx, img, ref); err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

func layoutName(a map[string]string) string {
	if n := a[annotationContainerdName]; n != "" {
		return n
	}
	if n := a[annotationOCIRefName]; strings.ContainsAny(n, "/:@") {
		return n
	}
	return ""
}

// platformImage picks this machine's linux image of a multi-platform index.
func platformImage(idx v1.ImageIndex) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH && d.MediaType.IsImage() {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no linux/%s image in the index", runtime.GOARCH)
}

// importImage unpacks a local image and records ref for it.
func (s *Store) importImage(ctx context.Context, img v1.Image, ref string) error {
	r, err := s.parseRef(ref)
	if err != nil {
		return fmt.Errorf("image name %q: %w", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	if err := s.ensureRoot(ctx, img, ref, nil, false); err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	_, err = s.publishRef(r, ref, digest.String(), img)
	return err
}
