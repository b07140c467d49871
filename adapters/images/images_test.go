package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// tarEntry is one entry of an archive read back.
type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

func readEntries(t *testing.T, r io.Reader) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{h, b})
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func mustBuild(t *testing.T, img Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := BuildOCI(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type jsonDesc struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
}

// verified is an archive taken apart and checked independently of
// Inspect: blob names against content, descriptors against blobs, the
// diff_id against the uncompressed layer.
type verified struct {
	index    struct{ Manifests []jsonDesc }
	manifest struct {
		MediaType string
		Config    jsonDesc
		Layers    []jsonDesc
	}
	config struct {
		Architecture, OS string
		Config           struct {
			User, WorkingDir     string
			Env, Entrypoint, Cmd []string
		}
		RootFS struct {
			Type    string
			DiffIDs []string `json:"diff_ids"`
		}
	}
	layer []tarEntry
	names []string
}

func verify(t *testing.T, archive []byte) verified {
	t.Helper()
	var v verified
	blobs := map[string][]byte{}
	files := map[string][]byte{}
	for _, e := range readEntries(t, bytes.NewReader(archive)) {
		v.names = append(v.names, e.hdr.Name)
		if !e.hdr.ModTime.Equal(time.Unix(0, 0)) || e.hdr.Uid != 0 || e.hdr.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d, want the epoch and root", e.hdr.Name, e.hdr.ModTime, e.hdr.Uid, e.hdr.Gid)
		}
		if e.hdr.Typeflag != tar.TypeReg {
			continue
		}
		files[e.hdr.Name] = e.data
		if hexd, ok := strings.CutPrefix(e.hdr.Name, "blobs/sha256/"); ok {
			if got := sha(e.data); got != "sha256:"+hexd {
				t.Errorf("blob %s has digest %s", e.hdr.Name, got)
			}
			blobs["sha256:"+hexd] = e.data
		}
	}
	if !sort.StringsAreSorted(v.names) {
		t.Errorf("archive entries not sorted: %q", v.names)
	}
	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q", got)
	}
	blob := func(d jsonDesc) []byte {
		t.Helper()
		b, ok := blobs[d.Digest]
		if !ok {
			t.Fatalf("%s %s: no blob", d.MediaType, d.Digest)
		}
		if int64(len(b)) != d.Size {
			t.Fatalf("%s %s: blob size %d, descriptor %d", d.MediaType, d.Digest, len(b), d.Size)
		}
		return b
	}
	if err := json.Unmarshal(files["index.json"], &v.index); err != nil {
		t.Fatal(err)
	}
	if len(v.index.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(v.index.Manifests))
	}
	if err := json.Unmarshal(blob(v.index.Manifests[0]), &v.manifest); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(blob(v.manifest.Config), &v.config); err != nil {
		t.Fatal(err)
	}
	if len(v.manifest.Layers) != 1 || len(v.config.RootFS.DiffIDs) != 1 {
		t.Fatalf("want one layer and one diff_id: %+v %+v", v.manifest.Layers, v.config.RootFS)
	}
	if len(blobs) != 3 {
		t.Errorf("want 3 blobs (manifest, config, layer), got %d", len(blobs))
	}
	layer := blob(v.manifest.Layers[0])
	if v.manifest.Layers[0].MediaType == MediaTypeLayerGzip {
		zr, err := gzip.NewReader(bytes.NewReader(layer))
		if err != nil {
			t.Fatal(err)
		}
		if layer, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	if got := sha(layer); got != v.config.RootFS.DiffIDs[0] {
		t.Errorf("uncompressed layer digest %s, diff_id %s", got, v.config.RootFS.DiffIDs[0])
	}
	v.layer = readEntries(t, bytes.NewReader(layer))
	return v
}

func testImage(t *testing.T) Image {
	src := filepath.Join(t.TempDir(), "tool")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho tool\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	return Image{
		Name: "registry.example.com/team/tool:1.2",
		Files: []File{
			{Path: "/usr/local/bin/tool", Source: src},
			{Path: "/etc/tool.conf", Data: []byte("a=1\n")},
			{Path: "/bin/tool", Symlink: "/usr/local/bin/tool"},
			{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
			{Path: "/empty", Data: []byte{}, Mode: 0o600},
		},
		Entrypoint: []string{"/bin/tool"},
		Cmd:        []string{"--flag"},
		User:       "1000:1000",
		Env:        []string{DefaultPath, "A=b"},
		WorkingDir: "/tmp",
	}
}

func TestBuildOCI(t *testing.T) {
	img := testImage(t)
	archive := mustBuild(t, img)
	v := verify(t, archive)

	wantNames := []string{"blobs/", "blobs/sha256/", "index.json", "oci-layout"}
	var got []string
	for _, n := range v.names {
		if !strings.HasPrefix(n, "blobs/sha256/") || n == "blobs/sha256/" {
			got = append(got, n)
		}
	}
	if !reflect.DeepEqual(got, wantNames) {
		t.Errorf("archive entries %q, want %q and three blobs", v.names, wantNames)
	}
	md := v.index.Manifests[0]
	if md.MediaType != MediaTypeManifest || md.Annotations[AnnotationImageName] != img.Name || md.Annotations[AnnotationRefName] != "1.2" {
		t.Errorf("index entry %+v", md)
	}
	if v.manifest.MediaType != MediaTypeManifest || v.manifest.Config.MediaType != MediaTypeConfig || v.manifest.Layers[0].MediaType != MediaTypeLayerGzip {
		t.Errorf("manifest media types %+v", v.manifest)
	}
	c := v.config
	if c.OS != "linux" || c.Architecture != runtime.GOARCH || c.RootFS.Type != "layers" {
		t.Errorf("config platform %s/%s rootfs %q", c.OS, c.Architecture, c.RootFS.Type)
	}
	if !reflect.DeepEqual(c.Config.Entrypoint, img.Entrypoint) || !reflect.DeepEqual(c.Config.Cmd, img.Cmd) ||
		c.Config.User != img.User || !reflect.DeepEqual(c.Config.Env, img.Env) || c.Config.WorkingDir != img.WorkingDir {
		t.Errorf("config %+v", c.Config)
	}

	type layerEntry struct {
		name string
		typ  byte
		mode int64
		link string
		data string
	}
	var layer []layerEntry
	for _, e := range v.layer {
		if !e.hdr.ModTime.Equal(time.Unix(0, 0)) || e.hdr.Uid != 0 || e.hdr.Gid != 0 {
			t.Errorf("layer %s: mtime %v uid %d gid %d", e.hdr.Name, e.hdr.ModTime, e.hdr.Uid, e.hdr.Gid)
		}
		layer = append(layer, layerEntry{e.hdr.Name, e.hdr.Typeflag, e.hdr.Mode, e.hdr.Linkname, string(e.data)})
	}
	want := []layerEntry{
		{"bin/", tar.TypeDir, 0o755, "", ""},
		{"bin/tool", tar.TypeSymlink, 0o777, "/usr/local/bin/tool", ""},
		{"empty", tar.TypeReg, 0o600, "", ""},
		{"etc/", tar.TypeDir, 0o755, "", ""},
		{"etc/tool.conf", tar.TypeReg, 0o644, "", "a=1\n"},
		{"tmp/", tar.TypeDir, 0o1777, "", ""},
		{"usr/", tar.TypeDir, 0o755, "", ""},
		{"usr/local/", tar.TypeDir, 0o755, "", ""},
		{"usr/local/bin/", tar.TypeDir, 0o755, "", ""},
		{"usr/local/bin/tool", tar.TypeReg, 0o750, "", "#!/bin/sh\necho tool\n"},
	}
	if !reflect.DeepEqual(layer, want) {
		t.Errorf("layer:\n got %v\nwant %v", layer, want)
	}

	info, err := Inspect(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != img.Name || info.RefName != "1.2" || info.Manifest.Digest != md.Digest ||
		info.Config.Digest != v.manifest.Config.Digest || info.Layer.Digest != v.manifest.Layers[0].Digest ||
		info.DiffID != c.RootFS.DiffIDs[0] || info.LayerEntries != len(want) || info.ArchiveSize != int64(len(archive)) {
		t.Errorf("Inspect: %+v", info)
	}
}

func TestBuildOCIUncompressed(t *testing.T) {
	img := testImage(t)
	img.Uncompressed = true
	v := verify(t, mustBuild(t, img))
	if l := v.manifest.Layers[0]; l.MediaType != MediaTypeLayer || l.Digest != v.config.RootFS.DiffIDs[0] {
		t.Errorf("uncompressed layer %+v, diff_id %s", l, v.config.RootFS.DiffIDs[0])
	}
}

func TestBuildOCIDeterministic(t *testing.T) {
	img := testImage(t)
	first := mustBuild(t, img)
	// Another mtime on the source, and the files in another order: the
	// same bytes.
	src := img.Files[0].Source
	if err := os.Chtimes(src, time.Now(), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	files := append([]File(nil), img.Files...)
	for i, j := 0, len(files)-1; i < j; i, j = i+1, j-1 {
		files[i], files[j] = files[j], files[i]
	}
	img.Files = files
	if second := mustBuild(t, img); !bytes.Equal(first, second) {
		t.Fatal("two builds of the same image differ")
	}
	img.Env = append(img.Env, "C=d")
	if third := mustBuild(t, img); bytes.Equal(first, third) {
		t.Fatal("a different config gave the same archive")
	}
}

func TestBuildOCIErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	ok := []File{{Path: "/a", Data: []byte("a")}}
	for _, tc := range []struct {
		name  string
		img   Image
		inErr string
	}{
		{"short name", Image{Name: "busybox:1.35", Files: ok}, "no registry"},
		{"no tag", Image{Name: "docker.io/library/busybox", Files: ok}, "no tag"},
		{"digest", Image{Name: "docker.io/library/busybox@sha256:00", Files: ok}, "digest"},
		{"upper case", Image{Name: "docker.io/Library/busybox:1", Files: ok}, "lowercase"},
		{"relative path", Image{Name: BusyboxName, Files: []File{{Path: "a", Data: []byte{}}}}, "not absolute"},
		{"unclean path", Image{Name: BusyboxName, Files: []File{{Path: "/a/../b", Data: []byte{}}}}, "not clean"},
		{"duplicate", Image{Name: BusyboxName, Files: []File{{Path: "/a", Data: []byte{}}, {Path: "/a", Symlink: "b"}}}, "twice"},
		{"no content", Image{Name: BusyboxName, Files: []File{{Path: "/a"}}}, "no Source"},
		{"both", Image{Name: BusyboxName, Files: []File{{Path: "/a", Data: []byte{}, Source: "/x"}}}, "both"},
		{"missing source", Image{Name: BusyboxName, Files: []File{{Path: "/a", Source: missing}}}, "missing"},
		{"directory source", Image{Name: BusyboxName, Files: []File{{Path: "/a", Source: t.TempDir()}}}, "not a regular file"},
		{"file as parent", Image{Name: BusyboxName, Files: []File{{Path: "/a", Data: []byte{}}, {Path: "/a/b", Data: []byte{}}}}, "not a directory"},
		{"device mode", Image{Name: BusyboxName, Files: []File{{Path: "/a", Data: []byte{}, Mode: fs.ModeDevice | 0o600}}}, "unsupported mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := BuildOCI(io.Discard, tc.img)
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.inErr)
			}
		})
	}
}

func TestSplitName(t *testing.T) {
	for name, want := range map[string][2]string{
		PauseName:                      {"registry.k8s.io/pause", "3.10.1"},
		BusyboxName:                    {"docker.io/library/busybox", "1.35"},
		"localhost:5000/a/b:latest":    {"localhost:5000/a/b", "latest"},
		"localhost/kprobe/x:dev":       {"localhost/kprobe/x", "dev"},
		"registry.example.com:443/x:1": {"registry.example.com:443/x", "1"},
	} {
		repo, tag, err := splitName(name)
		if err != nil || repo != want[0] || tag != want[1] {
			t.Errorf("splitName(%q) = %q, %q, %v; want %q", name, repo, tag, err, want)
		}
	}
	if _, _, err := splitName("localhost:5000/x"); err == nil {
		t.Error("a registry port taken for a tag")
	}
}

// rewrite rebuilds an archive, changing each entry with edit (nil drops it).
func rewrite(t *testing.T, archive []byte, edit func(tarEntry) *tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range readEntries(t, bytes.NewReader(archive)) {
		ne := edit(e)
		if ne == nil {
			continue
		}
		ne.hdr.Size = int64(len(ne.data))
		if err := tw.WriteHeader(ne.hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(ne.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInspectRejects(t *testing.T) {
	img := testImage(t)
	img.Uncompressed = true
	archive := mustBuild(t, img)
	v := verify(t, archive)
	layerName := "blobs/sha256/" + strings.TrimPrefix(v.manifest.Layers[0].Digest, "sha256:")
	for _, tc := range []struct {
		name  string
		edit  func(tarEntry) *tarEntry
		inErr string
	}{
		{"corrupt blob", func(e tarEntry) *tarEntry {
			if e.hdr.Name == layerName {
				e.data = append([]byte(nil), e.data...)
				e.data[0] ^= 1
			}
			return &e
		}, "content digest"},
		{"missing layer", func(e tarEntry) *tarEntry {
			if e.hdr.Name == layerName {
				return nil
			}
			return &e
		}, "no such blob"},
		{"missing index", func(e tarEntry) *tarEntry {
			if e.hdr.Name == "index.json" {
				return nil
			}
			return &e
		}, "no index.json"},
		{"stray entry", func(e tarEntry) *tarEntry {
			if e.hdr.Name == "oci-layout" {
				e.hdr.Name = "extra"
			}
			return &e
		}, "unexpected entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inspect(bytes.NewReader(rewrite(t, archive, tc.edit)))
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.inErr)
			}
		})
	}
}

// rechain builds img, lets edit change its manifest and config, and
// writes the archive with the manifest and index digests brought up to
// date, so that only what edit broke is wrong.
func rechain(t *testing.T, img Image, edit func(*manifest, *imageConfig)) []byte {
	t.Helper()
	a, err := build(img)
	if err != nil {
		t.Fatal(err)
	}
	var ix index
	var m manifest
	var c imageConfig
	if err := json.Unmarshal(a.index, &ix); err != nil {
		t.Fatal(err)
	}
	old := ix.Manifests[0]
	if err := json.Unmarshal(a.blobs[old.Digest], &m); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(a.blobs[m.Config.Digest], &c); err != nil {
		t.Fatal(err)
	}
	delete(a.blobs, old.Digest)
	delete(a.blobs, m.Config.Digest)
	edit(&m, &c)
	cb, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	size := m.Config.Size
	m.Config = a.add(MediaTypeConfig, cb)
	if size < 0 {
		m.Config.Size = size
	}
	mb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d := a.add(MediaTypeManifest, mb)
	d.Platform, d.Annotations = old.Platform, old.Annotations
	ix.Manifests[0] = d
	if a.index, err = json.Marshal(ix); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := a.write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInspectChecksReferences(t *testing.T) {
	img := testImage(t)
	if _, err := Inspect(bytes.NewReader(rechain(t, img, func(*manifest, *imageConfig) {}))); err != nil {
		t.Fatalf("unchanged: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*manifest, *imageConfig)
		inErr string
	}{
		{"wrong diff_id", func(_ *manifest, c *imageConfig) { c.RootFS.DiffIDs[0] = sha(nil) }, "diff_id"},
		{"two diff_ids", func(_ *manifest, c *imageConfig) { c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, sha(nil)) }, "one diff_id"},
		{"wrong layer size", func(m *manifest, _ *imageConfig) { m.Layers[0].Size++ }, "descriptor says"},
		{"wrong layer type", func(m *manifest, _ *imageConfig) { m.Layers[0].MediaType = "application/x-tar" }, "media type"},
		{"wrong config size", func(m *manifest, _ *imageConfig) { m.Config.Size = -1 }, "descriptor says"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inspect(bytes.NewReader(rechain(t, img, tc.edit)))
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.inErr)
			}
		})
	}
}

func TestPauseImage(t *testing.T) {
	img := PauseImage("/x/pause")
	if img.Name != PauseName || img.User != "65535:65535" || !reflect.DeepEqual(img.Entrypoint, []string{"/pause"}) ||
		len(img.Files) != 1 || img.Files[0].Path != "/pause" || img.Files[0].Source != "/x/pause" {
		t.Errorf("PauseImage = %+v", img)
	}
}

// staticBusybox returns a static busybox on this machine or skips.
func staticBusybox(t *testing.T) string {
	t.Helper()
	const bb = "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Skip("no /bin/busybox (Debian: apt-get install busybox-static)")
	}
	if err := checkStatic(bb); err != nil {
		t.Skipf("%v", err)
	}
	return bb
}

func TestBusyboxImage(t *testing.T) {
	bb := staticBusybox(t)
	img, err := BusyboxImage(bb)
	if err != nil {
		t.Fatal(err)
	}
	links := map[string]string{}
	for _, f := range img.Files {
		if f.Symlink != "" {
			links[f.Path] = f.Symlink
		}
	}
	for _, a := range []string{"/bin/sh", "/bin/ls", "/bin/id", "/bin/sleep", "/bin/wget"} {
		if links[a] != "busybox" {
			t.Errorf("%s -> %q, want busybox", a, links[a])
		}
	}
	if len(links) < 100 {
		t.Errorf("only %d symlinks", len(links))
	}
	info, err := Inspect(bytes.NewReader(mustBuild(t, img)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d layer entries, layer %d bytes, archive %d bytes, manifest %s", info.Name, info.LayerEntries, info.Layer.Size, info.ArchiveSize, info.Manifest.Digest)
}

func TestBusyboxImageRejectsDynamic(t *testing.T) {
	const ls = "/bin/ls"
	f, err := elf.Open(ls)
	if err != nil {
		t.Skipf("%s is not ELF here: %v", ls, err)
	}
	dynamic := false
	for _, p := range f.Progs {
		dynamic = dynamic || p.Type == elf.PT_INTERP
	}
	f.Close()
	if !dynamic {
		t.Skipf("%s is static here", ls)
	}
	if _, err := BusyboxImage(ls); err == nil || !strings.Contains(err.Error(), "busybox-static") {
		t.Fatalf("err = %v, want the busybox-static hint", err)
	}
}
