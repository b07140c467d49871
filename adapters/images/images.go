// Package images builds the container images kprobe's launcher preloads
// into containerd, where nothing can be pulled: the sandbox (pause) image
// and a small busybox image for test pods.
//
// BuildOCI writes a single-layer OCI image-layout archive (oci-layout,
// index.json, blobs/sha256/...) from a list of files. The output is
// deterministic: fixed mtimes, root ownership, sorted entries and a
// gzip stream without a timestamp, so the same inputs give the same
// digests on every build. The index entry carries the annotation
// io.containerd.image.name, which "ctr images import" uses as the
// image's name; Import runs that command. Inspect reads an archive back
// and checks every digest and size in it.
//
// Archives are assembled in memory: this is meant for small images (a
// few MB), not for general image building.
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
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Names of the images the launcher preloads. PauseName must equal the
// CRI sandbox_image (k3s: --pause-image) so the kubelet never pulls it.
const (
	PauseName   = "registry.k8s.io/pause:3.10.1"
	BusyboxName = "docker.io/library/busybox:1.35"
)

// CRINamespace is the containerd namespace the CRI plugin (and so the
// kubelet) sees images in.
const CRINamespace = "k8s.io"

// Media types and annotations of the OCI image spec and containerd.
const (
	MediaTypeIndex     = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest  = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig    = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer     = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"

	// AnnotationImageName is containerd's full image name annotation;
	// "ctr images import" names the image after it.
	AnnotationImageName = "io.containerd.image.name"
	// AnnotationRefName is the OCI reference annotation. As containerd's
	// own exporter does, it holds only the tag.
	AnnotationRefName = "org.opencontainers.image.ref.name"
)

// DefaultPath is the PATH both images set, the same as Docker's default.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// epoch is every entry's mtime and the config's creation time.
var epoch = time.Unix(0, 0).UTC()

// Image describes a single-layer image.
type Image struct {
	// Name is the full reference, registry and tag included
	// ("registry.k8s.io/pause:3.10.1"): containerd's CRI looks images up
	// by their normalized full name, so a short one would never match.
	Name string
	// Files are the layer's contents. Parent directories are added
	// (0755) unless listed.
	Files      []File
	Entrypoint []string
	Cmd        []string
	User       string
	Env        []string
	WorkingDir string
	// OS and Architecture of the image config; empty means "linux" and
	// the architecture this program was built for.
	OS           string
	Architecture string
	// Uncompressed stores the layer as a plain tar instead of tar+gzip.
	Uncompressed bool
}

// File is one entry of the layer: a regular file (from Source or Data),
// a directory (Mode has fs.ModeDir) or a symlink (Symlink is set). Every
// entry is owned by root.
type File struct {
	// Path is the absolute path in the image ("/bin/busybox").
	Path string
	// Source is a host file whose content is copied; Data is the content
	// itself. A regular file has exactly one of them.
	Source string
	Data   []byte
	// Mode holds the permission bits (setuid, setgid and sticky
	// included) and fs.ModeDir for a directory. Zero means Source's
	// permissions, 0644 for Data and 0755 for a directory.
	Mode fs.FileMode
	// Symlink, when set, makes the entry a symlink to this target.
	Symlink string
}

// BuildOCI writes img as an OCI image-layout tar to w.
func BuildOCI(w io.Writer, img Image) error {
	a, err := build(img)
	if err != nil {
		return err
	}
	return a.write(w)
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type imageConfig struct {
	Created      string    `json:"created,omitempty"`
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Config       runConfig `json:"config"`
	RootFS       rootFS    `json:"rootfs"`
	History      []history `json:"history,omitempty"`
}

type runConfig struct {
	User       string   `json:"User,omitempty"`
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type history struct {
	Created   string `json:"created,omitempty"`
	CreatedBy string `json:"created_by,omitempty"`
}

const ociLayout = `{"imageLayoutVersion":"1.0.0"}`

// archive is a built image: its blobs by digest and its index.
type archive struct {
	blobs map[string][]byte
	index []byte
}

func build(img Image) (*archive, error) {
	_, tag, err := splitName(img.Name)
	if err != nil {
		return nil, err
	}
	entries, err := layerEntries(img.Files)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", img.Name, err)
	}

	var layer bytes.Buffer
	diff := sha256.New()
	var layerW io.Writer = &layer
	var zw *gzip.Writer
	if !img.Uncompressed {
		zw, err = gzip.NewWriterLevel(&layer, gzip.BestCompression)
		if err != nil {
			return nil, err
		}
		layerW = zw
	}
	tw := tar.NewWriter(io.MultiWriter(layerW, diff))
	for _, e := range entries {
		if err := e.writeTo(tw); err != nil {
			return nil, fmt.Errorf("image %s: %w", img.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}

	a := &archive{blobs: map[string][]byte{}}
	layerDesc := a.add(MediaTypeLayerGzip, layer.Bytes())
	if img.Uncompressed {
		layerDesc.MediaType = MediaTypeLayer
	}
	osName, arch := img.OS, img.Architecture
	if osName == "" {
		osName = "linux"
	}
	if arch == "" {
		arch = runtime.GOARCH
	}
	created := epoch.Format(time.RFC3339)
	cfg, err := json.Marshal(imageConfig{
		Created:      created,
		Architecture: arch,
		OS:           osName,
		Config: runConfig{
			User:       img.User,
			Env:        img.Env,
			Entrypoint: img.Entrypoint,
			Cmd:        img.Cmd,
			WorkingDir: img.WorkingDir,
		},
		RootFS:  rootFS{Type: "layers", DiffIDs: []string{digestOf(diff)}},
		History: []history{{Created: created, CreatedBy: "kprobe adapters/images"}},
	})
	if err != nil {
		return nil, err
	}
	cfgDesc := a.add(MediaTypeConfig, cfg)
	man, err := json.Marshal(manifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		Config:        cfgDesc,
		Layers:        []descriptor{layerDesc},
	})
	if err != nil {
		return nil, err
	}
	manDesc := a.add(MediaTypeManifest, man)
	manDesc.Platform = &platform{Architecture: arch, OS: osName}
	manDesc.Annotations = map[string]string{
		AnnotationImageName: img.Name,
		AnnotationRefName:   tag,
	}
	a.index, err = json.Marshal(index{
		SchemaVersion: 2,
		MediaType:     MediaTypeIndex,
		Manifests:     []descriptor{manDesc},
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func (a *archive) add(mediaType string, b []byte) descriptor {
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	a.blobs[d] = b
	return descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// write emits the layout in sorted entry order.
func (a *archive) write(w io.Writer) error {
	tw := tar.NewWriter(w)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch, Format: tar.FormatUSTAR})
	}
	file := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	digests := make([]string, 0, len(a.blobs))
	for d := range a.blobs {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	for _, d := range digests {
		if err := file("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), a.blobs[d]); err != nil {
			return err
		}
	}
	if err := file("index.json", a.index); err != nil {
		return err
	}
	if err := file("oci-layout", []byte(ociLayout)); err != nil {
		return err
	}
	return tw.Close()
}

func digestOf(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// splitName checks that name is a full reference with a registry and a
// tag, and returns the repository and the tag.
func splitName(name string) (repo, tag string, err error) {
	bad := func(why string) error {
		return fmt.Errorf("image name %q: %s (want a full reference such as %s: containerd's CRI looks images up by their full name)", name, why, BusyboxName)
	}
	if name == "" {
		return "", "", bad("empty")
	}
	if strings.Contains(name, "@") {
		return "", "", bad("digest references are not supported")
	}
	slash := strings.IndexByte(name, '/')
	if slash < 0 {
		return "", "", bad("no registry")
	}
	if host := name[:slash]; !strings.ContainsAny(host, ".:") && host != "localhost" {
		return "", "", bad("no registry")
	}
	colon := strings.LastIndexByte(name, ':')
	if colon < slash {
		return "", "", bad("no tag")
	}
	repo, tag = name[:colon], name[colon+1:]
	if tag == "" || strings.Contains(tag, "/") {
		return "", "", bad("no tag")
	}
	if repo != strings.ToLower(repo) {
		return "", "", bad("repository must be lowercase")
	}
	return repo, tag, nil
}

// entry is one resolved layer entry.
type entry struct {
	name string // relative, without a trailing slash
	kind byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode int64
	link string
	data []byte
	src  string
	size int64
}

func (e entry) writeTo(tw *tar.Writer) error {
	h := &tar.Header{Typeflag: e.kind, Name: e.name, Mode: e.mode, ModTime: epoch, Linkname: e.link}
	switch e.kind {
	case tar.TypeDir:
		h.Name += "/"
	case tar.TypeReg:
		h.Size = e.size
	}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("%s: %w", e.name, err)
	}
	if e.kind != tar.TypeReg {
		return nil
	}
	if e.src == "" {
		_, err := tw.Write(e.data)
		return err
	}
	f, err := os.Open(e.src)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(tw, f)
	if err != nil {
		return fmt.Errorf("/%s: copying %s: %w", e.name, e.src, err)
	}
	if n != e.size {
		return fmt.Errorf("/%s: %s changed size while being read", e.name, e.src)
	}
	return nil
}

// tarMode turns permission and special bits into a tar header mode.
func tarMode(m fs.FileMode) int64 {
	v := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

// layerEntries resolves files into sorted entries, adding missing parent
// directories. Paths sort so that a directory precedes its contents.
func layerEntries(files []File) ([]entry, error) {
	byName := map[string]entry{}
	for _, f := range files {
		e, err := resolve(f)
		if err != nil {
			return nil, err
		}
		if _, dup := byName[e.name]; dup {
			return nil, fmt.Errorf("%s listed twice", f.Path)
		}
		byName[e.name] = e
	}
	for name := range byName {
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			if e, ok := byName[p]; ok {
				if e.kind != tar.TypeDir {
					return nil, fmt.Errorf("/%s is not a directory but /%s is inside it", p, name)
				}
				continue
			}
			byName[p] = entry{name: p, kind: tar.TypeDir, mode: 0o755}
		}
	}
	out := make([]entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func resolve(f File) (entry, error) {
	if !path.IsAbs(f.Path) {
		return entry{}, fmt.Errorf("file path %q is not absolute", f.Path)
	}
	if path.Clean(f.Path) != f.Path || f.Path == "/" {
		return entry{}, fmt.Errorf("file path %q is not clean", f.Path)
	}
	e := entry{name: f.Path[1:]}
	hasContent := f.Source != "" || f.Data != nil
	switch {
	case f.Symlink != "":
		if hasContent || f.Mode&fs.ModeDir != 0 {
			return entry{}, fmt.Errorf("%s: a symlink has no content or directory mode", f.Path)
		}
		e.kind, e.mode, e.link = tar.TypeSymlink, 0o777, f.Symlink
	case f.Mode&fs.ModeDir != 0:
		if hasContent {
			return entry{}, fmt.Errorf("%s: a directory has no content", f.Path)
		}
		e.kind, e.mode = tar.TypeDir, tarMode(f.Mode)
		if f.Mode.Perm() == 0 {
			e.mode |= 0o755
		}
	case f.Source != "" && f.Data != nil:
		return entry{}, fmt.Errorf("%s: both Source and Data are set", f.Path)
	case f.Source != "":
		st, err := os.Stat(f.Source)
		if err != nil {
			return entry{}, fmt.Errorf("%s: %w", f.Path, err)
		}
		if !st.Mode().IsRegular() {
			return entry{}, fmt.Errorf("%s: source %s is not a regular file", f.Path, f.Source)
		}
		e.kind, e.src, e.size, e.mode = tar.TypeReg, f.Source, st.Size(), tarMode(f.Mode)
		if f.Mode == 0 {
			e.mode = tarMode(st.Mode())
		}
	case f.Data != nil:
		e.kind, e.data, e.size, e.mode = tar.TypeReg, f.Data, int64(len(f.Data)), tarMode(f.Mode)
		if f.Mode == 0 {
			e.mode = 0o644
		}
	default:
		return entry{}, errors.New(f.Path + ": no Source, Data, Symlink or directory mode")
	}
	if f.Mode&^(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky|fs.ModeDir) != 0 {
		return entry{}, fmt.Errorf("%s: unsupported mode %v", f.Path, f.Mode)
	}
	return e, nil
}
