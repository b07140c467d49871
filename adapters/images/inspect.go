package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Blob is a content descriptor: what a manifest or an index says about a
// blob.
type Blob struct {
	MediaType string
	Digest    string
	Size      int64
}

// Info describes a single-image archive, as Inspect read and checked it.
type Info struct {
	// Name is the io.containerd.image.name annotation, RefName the
	// org.opencontainers.image.ref.name one.
	Name, RefName    string
	OS, Architecture string
	Manifest         Blob
	Config           Blob
	Layer            Blob
	// DiffID is the digest of the uncompressed layer.
	DiffID string
	// LayerEntries counts the layer's tar entries; ArchiveSize is the
	// archive's own size in bytes.
	LayerEntries int
	ArchiveSize  int64
}

// Inspect reads a single-image, single-layer OCI layout archive (the kind
// BuildOCI writes) and checks it: the layout marker, that every blob's
// sha256 matches its name, that the index, manifest and config reference
// blobs that exist with the stated sizes, that the layer's uncompressed
// digest equals the config's diff_id, and that no blob is left unused.
func Inspect(r io.Reader) (Info, error) {
	var info Info
	cr := &countingReader{r: r}
	files, err := readTar(cr)
	if err != nil {
		return info, err
	}
	blobs := map[string][]byte{}
	var layout, idx []byte
	for name, b := range files {
		switch {
		case name == "oci-layout":
			layout = b
		case name == "index.json":
			idx = b
		case strings.HasPrefix(name, "blobs/sha256/"):
			hexd := strings.TrimPrefix(name, "blobs/sha256/")
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); got != hexd {
				return info, fmt.Errorf("%s: content digest is sha256:%s", name, got)
			}
			blobs["sha256:"+hexd] = b
		default:
			return info, fmt.Errorf("unexpected entry %s", name)
		}
	}
	var lay struct {
		Version string `json:"imageLayoutVersion"`
	}
	if layout == nil {
		return info, errors.New("no oci-layout")
	}
	if err := json.Unmarshal(layout, &lay); err != nil || lay.Version != "1.0.0" {
		return info, fmt.Errorf("oci-layout: want imageLayoutVersion 1.0.0, got %q", layout)
	}
	if idx == nil {
		return info, errors.New("no index.json")
	}
	var ix index
	if err := json.Unmarshal(idx, &ix); err != nil {
		return info, fmt.Errorf("index.json: %w", err)
	}
	if ix.SchemaVersion != 2 || len(ix.Manifests) != 1 {
		return info, fmt.Errorf("index.json: want schemaVersion 2 and one manifest, got %d and %d", ix.SchemaVersion, len(ix.Manifests))
	}
	used := map[string]bool{}
	get := func(what string, d descriptor, mediaTypes ...string) ([]byte, error) {
		ok := false
		for _, mt := range mediaTypes {
			ok = ok || d.MediaType == mt
		}
		if !ok {
			return nil, fmt.Errorf("%s %s: media type %q", what, d.Digest, d.MediaType)
		}
		b, found := blobs[d.Digest]
		if !found {
			return nil, fmt.Errorf("%s %s: no such blob", what, d.Digest)
		}
		if int64(len(b)) != d.Size {
			return nil, fmt.Errorf("%s %s: size %d, descriptor says %d", what, d.Digest, len(b), d.Size)
		}
		used[d.Digest] = true
		return b, nil
	}
	md := ix.Manifests[0]
	info.Name, info.RefName = md.Annotations[AnnotationImageName], md.Annotations[AnnotationRefName]
	if info.Name == "" {
		return info, fmt.Errorf("index.json: no %s annotation", AnnotationImageName)
	}
	mb, err := get("manifest", md, MediaTypeManifest)
	if err != nil {
		return info, err
	}
	var m manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return info, fmt.Errorf("manifest: %w", err)
	}
	if m.SchemaVersion != 2 || len(m.Layers) != 1 {
		return info, fmt.Errorf("manifest: want schemaVersion 2 and one layer, got %d and %d", m.SchemaVersion, len(m.Layers))
	}
	cb, err := get("config", m.Config, MediaTypeConfig)
	if err != nil {
		return info, err
	}
	var c imageConfig
	if err := json.Unmarshal(cb, &c); err != nil {
		return info, fmt.Errorf("config: %w", err)
	}
	if c.RootFS.Type != "layers" || len(c.RootFS.DiffIDs) != 1 {
		return info, fmt.Errorf("config: want rootfs type layers with one diff_id, got %q and %d", c.RootFS.Type, len(c.RootFS.DiffIDs))
	}
	lb, err := get("layer", m.Layers[0], MediaTypeLayer, MediaTypeLayerGzip)
	if err != nil {
		return info, err
	}
	var lr io.Reader = bytes.NewReader(lb)
	if m.Layers[0].MediaType == MediaTypeLayerGzip {
		zr, err := gzip.NewReader(lr)
		if err != nil {
			return info, fmt.Errorf("layer: %w", err)
		}
		lr = zr
	}
	h := sha256.New()
	n, err := countEntries(io.TeeReader(lr, h))
	if err != nil {
		return info, fmt.Errorf("layer: %w", err)
	}
	if d := digestOf(h); d != c.RootFS.DiffIDs[0] {
		return info, fmt.Errorf("layer: uncompressed digest %s, config's diff_id is %s", d, c.RootFS.DiffIDs[0])
	}
	for d := range blobs {
		if !used[d] {
			return info, fmt.Errorf("blob %s is not referenced", d)
		}
	}
	info.OS, info.Architecture = c.OS, c.Architecture
	info.Manifest = Blob{md.MediaType, md.Digest, md.Size}
	info.Config = Blob{m.Config.MediaType, m.Config.Digest, m.Config.Size}
	info.Layer = Blob{m.Layers[0].MediaType, m.Layers[0].Digest, m.Layers[0].Size}
	info.DiffID = c.RootFS.DiffIDs[0]
	info.LayerEntries = n
	info.ArchiveSize = cr.n
	return info, nil
}

// readTar returns the regular files of a tar by name, rejecting
// duplicates and anything but files and directories.
func readTar(r io.Reader) (map[string][]byte, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("%s: unexpected tar entry type %q", h.Name, h.Typeflag)
		}
		if _, dup := files[h.Name]; dup {
			return nil, fmt.Errorf("%s appears twice", h.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		files[h.Name] = b
	}
	// Count trailing padding too, so ArchiveSize is the file's size.
	_, err := io.Copy(io.Discard, r)
	return files, err
}

// countEntries reads a whole tar stream and returns its entry count.
func countEntries(r io.Reader) (int, error) {
	tr := tar.NewReader(r)
	n := 0
	for {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		n++
	}
	// The digest covers the end-of-archive blocks as well.
	_, err := io.Copy(io.Discard, r)
	return n, err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
