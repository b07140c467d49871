package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeELF is a minimal ELF header for machine m followed by size bytes.
func fakeELF(m uint16, size int) []byte {
	b := make([]byte, 20+size)
	copy(b, "\x7fELF\x02\x01\x01")
	b[18], b[19] = byte(m), byte(m>>8)
	for i := 20; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// release is a fake GitHub release download endpoint.
type release struct {
	mu       sync.Mutex
	files    map[string][]byte // path -> body
	truncate map[string]int    // path -> bytes actually sent
	requests []string
}

func (rel *release) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rel.mu.Lock()
	rel.requests = append(rel.requests, r.URL.Path)
	body, ok := rel.files[r.URL.Path]
	cut, short := rel.truncate[r.URL.Path]
	rel.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if short {
		w.Write(body[:cut])
		return // the server closes the connection: a truncated body
	}
	w.Write(body)
}

// mirror is two real HTTPS servers on loopback serving one release: the
// binary's server (URL, a mirror) and the publisher the checksum file is
// taken from.
type mirror struct {
	URL       string
	publisher *httptest.Server
	client    *http.Client
}

func newMirror(t *testing.T, bins, sums http.Handler) *mirror {
	t.Helper()
	b := httptest.NewTLSServer(bins) // listens on 127.0.0.1
	p := httptest.NewTLSServer(sums)
	t.Cleanup(b.Close)
	t.Cleanup(p.Close)
	// httptest's TLS servers share one certificate: either client trusts both.
	return &mirror{URL: b.URL, publisher: p, client: b.Client()}
}

// opts points o at the mirror for the binary and the publisher for the
// checksum file.
func (m *mirror) opts(o InstallOptions) InstallOptions {
	o.BaseURL, o.ChecksumBaseURL, o.Client = m.URL, m.publisher.URL, m.client
	return o
}

func newRelease(t *testing.T, version string, bin []byte, sums string) (*release, *mirror) {
	t.Helper()
	rel := &release{files: map[string][]byte{
		"/" + version + "/k3s":                 bin,
		"/" + version + "/sha256sum-amd64.txt": []byte(sums),
	}, truncate: map[string]int{}}
	return rel, newMirror(t, rel, rel)
}

func sumsFile(entries ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(entries); i += 2 {
		fmt.Fprintf(&b, "%s  %s\n", entries[i], entries[i+1])
	}
	return b.String()
}

// leftovers lists what is in dir besides want.
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
next:
	for _, e := range ents {
		for _, w := range want {
			if e.Name() == w {
				continue next
			}
		}
		out = append(out, e.Name())
	}
	return out
}

const version = "v1.32.2+k3s1"

func TestDownloadVerifiesAndInstalls(t *testing.T) {
	bin := fakeELF(62, 3<<20)
	rel, srv := newRelease(t, version, bin, sumsFile(
		digest([]byte("airgap")), "k3s-airgap-images-amd64.tar.zst",
		digest(bin), "k3s",
	))
	dir := filepath.Join(t.TempDir(), "bin") // created on demand
	var progress bytes.Buffer
	path, err := InstallK3s(context.Background(), srv.opts(InstallOptions{
		Version: version, Dir: dir, Arch: "amd64", Progress: &progress,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "k3s") {
		t.Errorf("path = %s", path)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("installed file differs (%v)", err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("mode = %v, want 0755", fi.Mode().Perm())
	}
	if l := leftovers(t, dir, "k3s"); len(l) > 0 {
		t.Errorf("left behind %v", l)
	}
	if want := []string{"/" + version + "/sha256sum-amd64.txt", "/" + version + "/k3s"}; fmt.Sprint(rel.requests) != fmt.Sprint(want) {
		t.Errorf("requests = %v, want %v", rel.requests, want)
	}
	out := progress.String()
	for _, want := range []string{
		"downloading " + srv.URL + "/" + version + "/k3s\n",
		"(50%)",
		fmt.Sprintf("k3s %s: downloaded %d bytes (3.0 MiB)\n", version, len(bin)),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
}

func TestDownloadArm64AssetNames(t *testing.T) {
	bin := fakeELF(183, 100)
	rel := &release{files: map[string][]byte{
		"/" + version + "/k3s-arm64":           bin,
		"/" + version + "/sha256sum-arm64.txt": []byte(sumsFile(digest(bin), "k3s-arm64")),
	}}
	srv := newMirror(t, rel, rel)
	dir := t.TempDir()
	path, err := InstallK3s(context.Background(), srv.opts(InstallOptions{Version: version, Dir: dir, Arch: "arm64"}))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "k3s" {
		t.Errorf("installed as %s, want k3s", path)
	}
}

func TestDownloadFailures(t *testing.T) {
	bin := fakeELF(62, 4096)
	good := sumsFile(digest(bin), "k3s")
	cases := []struct {
		name     string
		version  string
		sums     string
		bin      []byte
		truncate int // bytes of the binary sent, 0 = all
		missing  string
		arch     string
		want     []string
		input    bool // an ErrInput
	}{
		{name: "sha mismatch", sums: sumsFile(strings.Repeat("ab", 32), "k3s"),
			want: []string{"sha256 " + digest(bin) + " does not match " + strings.Repeat("ab", 32), "nothing was installed"}},
		{name: "version 404", version: "v1.99.0+k3s1",
			want: []string{"404 Not Found", "is v1.99.0+k3s1 a k3s release?"}, input: true},
		{name: "binary 404", missing: "/" + version + "/k3s", want: []string{"/k3s: 404 Not Found"}, input: true},
		{name: "truncated", truncate: 1000, want: []string{"truncated: got 1000 of 4116 bytes"}},
		{name: "no entry in sums", sums: sumsFile(digest(bin), "k3s-arm64"),
			want: []string{"sha256sum-amd64.txt: no sha256 entry for k3s"}},
		{name: "garbage sums", sums: "<html>rate limited</html>\n", want: []string{"is not a sha256 digest"}},
		{name: "not a release tag", version: "latest", want: []string{`"latest" is not a k3s release tag`}, input: true},
		{name: "html served as binary", bin: []byte("<!DOCTYPE html><html>not found</html>"),
			want: []string{"not an ELF executable"}, input: true},
		{name: "wrong architecture", bin: fakeELF(183, 10), want: []string{"ELF binary for machine 183, not for amd64"}, input: true},
		{name: "unsupported arch", arch: "riscv64", want: []string{`no binary for architecture "riscv64"`}, input: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bin
			if c.bin != nil {
				b = c.bin
			}
			sums := good
			if c.bin != nil {
				sums = sumsFile(digest(b), "k3s")
			}
			if c.sums != "" {
				sums = c.sums
			}
			rel, srv := newRelease(t, version, b, sums)
			if c.truncate > 0 {
				rel.truncate["/"+version+"/k3s"] = c.truncate
			}
			if c.missing != "" {
				delete(rel.files, c.missing)
			}
			dir := t.TempDir()
			// An existing install must survive any failure untouched.
			old := []byte("previous k3s")
			if err := os.WriteFile(filepath.Join(dir, "k3s"), old, 0o755); err != nil {
				t.Fatal(err)
			}
			v := version
			if c.version != "" {
				v = c.version
			}
			arch := "amd64"
			if c.arch != "" {
				arch = c.arch
			}
			_, err := InstallK3s(context.Background(), srv.opts(InstallOptions{Version: v, Dir: dir, Arch: arch}))
			if err == nil {
				t.Fatal("install succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if errors.Is(err, ErrInput) != c.input {
				t.Errorf("errors.Is(err, ErrInput) = %v, want %v", !c.input, c.input)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "k3s")); !bytes.Equal(got, old) {
				t.Error("the previous k3s was replaced or damaged")
			}
			if l := leftovers(t, dir, "k3s"); len(l) > 0 {
				t.Errorf("left behind %v", l)
			}
		})
	}
}

// TestDownloadTrustsThePublisherNotTheMirror: a mirror that serves a
// tampered binary with a checksum file to match (issue 11: the checksum
// came from the binary's own server) is caught by the publisher's file.
func TestDownloadTrustsThePublisherNotTheMirror(t *testing.T) {
	real, tampered := fakeELF(62, 4096), fakeELF(62, 4096)
	tampered[100] ^= 0xff
	mirrorFiles := &release{files: map[string][]byte{
		"/" + version + "/k3s":                 tampered,
		"/" + version + "/sha256sum-amd64.txt": []byte(sumsFile(digest(tampered), "k3s")),
	}}
	publisher := &release{files: map[string][]byte{
		"/" + version + "/sha256sum-amd64.txt": []byte(sumsFile(digest(real), "k3s")),
	}}
	m := newMirror(t, mirrorFiles, publisher)
	dir := t.TempDir()
	_, err := InstallK3s(context.Background(), m.opts(InstallOptions{Version: version, Dir: dir, Arch: "amd64"}))
	if err == nil || !strings.Contains(err.Error(), "does not match "+digest(real)) {
		t.Fatalf("tampered binary: %v, want a checksum mismatch against the publisher's digest", err)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("installed or left %v", l)
	}
	if slices.Contains(mirrorFiles.requests, "/"+version+"/sha256sum-amd64.txt") {
		t.Errorf("read the mirror's own checksum file: %v", mirrorFiles.requests)
	}

	// The checksum from the binary's own server is refused outright.
	o := m.opts(InstallOptions{Version: version, Dir: dir, Arch: "amd64"})
	o.ChecksumBaseURL = m.URL + "/other/path"
	if _, err := InstallK3s(context.Background(), o); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "the server the binary comes from") {
		t.Errorf("checksum from the mirror: %v", err)
	}
}

// TestDownloadHTTPSOnly: plain HTTP, for the binary, the checksum or a
// redirect, is refused without Insecure, before any request.
func TestDownloadHTTPSOnly(t *testing.T) {
	bin := fakeELF(62, 100)
	rel := &release{files: map[string][]byte{
		"/" + version + "/k3s":                 bin,
		"/" + version + "/sha256sum-amd64.txt": []byte(sumsFile(digest(bin), "k3s")),
	}}
	plainBin, plainSums := httptest.NewServer(rel), httptest.NewServer(rel)
	defer plainBin.Close()
	defer plainSums.Close()
	m := newMirror(t, rel, rel)
	for name, o := range map[string]InstallOptions{
		"binary":   {BaseURL: plainBin.URL, ChecksumBaseURL: m.publisher.URL, Client: m.client},
		"checksum": {BaseURL: m.URL, ChecksumBaseURL: plainSums.URL, Client: m.client},
	} {
		o.Version, o.Dir, o.Arch = version, t.TempDir(), "amd64"
		_, err := InstallK3s(context.Background(), o)
		if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "plain HTTP") {
			t.Errorf("%s over plain HTTP: %v", name, err)
		}
	}
	if len(rel.requests) != 0 {
		t.Errorf("requests made: %v", rel.requests)
	}

	// An HTTPS mirror that redirects to plain HTTP.
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plainBin.URL+r.URL.Path, http.StatusFound)
	})
	r := newMirror(t, redirect, rel)
	_, err := InstallK3s(context.Background(), r.opts(InstallOptions{Version: version, Dir: t.TempDir(), Arch: "amd64"}))
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "redirects to plain HTTP") {
		t.Errorf("redirect to plain HTTP: %v", err)
	}

	// --insecure accepts plain HTTP (still from two servers).
	dir := t.TempDir()
	if _, err := InstallK3s(context.Background(), InstallOptions{Version: version, Dir: dir, Arch: "amd64",
		BaseURL: plainBin.URL, ChecksumBaseURL: plainSums.URL, Insecure: true}); err != nil {
		t.Errorf("with Insecure: %v", err)
	}
}

func TestDownloadCancelled(t *testing.T) {
	bin := fakeELF(62, 10)
	_, srv := newRelease(t, version, bin, sumsFile(digest(bin), "k3s"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := InstallK3s(ctx, srv.opts(InstallOptions{Version: version, Dir: t.TempDir(), Arch: "amd64"}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestInstallFromFile(t *testing.T) {
	tmp := t.TempDir()
	bin := fakeELF(62, 1000)
	src := filepath.Join(tmp, "k3s-download")
	if err := os.WriteFile(src, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	releaseSums := write("sha256sum-amd64.txt", sumsFile(digest([]byte("x")), "k3s-airgap-images-amd64.tar", digest(bin), "k3s"))
	bare := write("bare.sha256", digest(bin)+"\n")
	byName := write("byname.sha256", sumsFile(digest(bin), "*k3s-download"))
	wrong := write("wrong.sha256", strings.Repeat("0", 64)+"\n")
	noEntry := write("noentry.sha256", sumsFile(digest(bin), "other")+sumsFile(digest(bin), "another"))

	t.Run("unverified", func(t *testing.T) {
		dir := t.TempDir()
		var progress bytes.Buffer
		path, err := InstallK3s(context.Background(), InstallOptions{From: src, Dir: dir, Arch: "amd64", Progress: &progress})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, bin) {
			t.Error("content differs")
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o755 {
			t.Errorf("mode %v", fi.Mode().Perm())
		}
		if !strings.Contains(progress.String(), "without verification") {
			t.Errorf("progress = %q", progress.String())
		}
	})
	for name, sums := range map[string]string{"release sums": releaseSums, "bare digest": bare, "by file name": byName} {
		t.Run(name, func(t *testing.T) {
			if _, err := InstallK3s(context.Background(), InstallOptions{From: src, SHA256File: sums, Dir: t.TempDir(), Arch: "amd64"}); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, c := range []struct {
		name string
		o    InstallOptions
		want []string
	}{
		{"mismatch", InstallOptions{From: src, SHA256File: wrong},
			[]string{src + " has sha256 " + digest(bin), "but " + wrong + " says " + strings.Repeat("0", 64), "refusing to install"}},
		{"no entry", InstallOptions{From: src, SHA256File: noEntry}, []string{"no sha256 entry for k3s or k3s-download"}},
		{"missing sums file", InstallOptions{From: src, SHA256File: filepath.Join(tmp, "nope")}, []string{"read checksum file"}},
		// Issue 11: a checksum file is read bounded and only when regular.
		{"sums file /dev/zero", InstallOptions{From: src, SHA256File: "/dev/zero"}, []string{"read checksum file", "not a regular file"}},
		{"missing binary", InstallOptions{From: filepath.Join(tmp, "nope")}, []string{"does not exist"}},
		{"directory", InstallOptions{From: tmp}, []string{"is not a regular file"}},
		{"not ELF", InstallOptions{From: releaseSums}, []string{"not an ELF executable"}},
		{"both", InstallOptions{From: src, Version: version}, []string{"either a release version or a file"}},
		{"neither", InstallOptions{}, []string{"either a release version or a file"}},
		{"sums without file", InstallOptions{Version: version, SHA256File: bare}, []string{"a checksum file goes with a file to install from"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.o.Dir, c.o.Arch = dir, "amd64"
			_, err := InstallK3s(context.Background(), c.o)
			if err == nil {
				t.Fatal("install succeeded")
			}
			if !errors.Is(err, ErrInput) {
				t.Errorf("not an ErrInput: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if l := leftovers(t, dir); len(l) > 0 {
				t.Errorf("left behind %v", l)
			}
		})
	}
	t.Run("onto itself", func(t *testing.T) {
		dir := t.TempDir()
		p, err := InstallK3s(context.Background(), InstallOptions{From: src, Dir: dir, Arch: "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = InstallK3s(context.Background(), InstallOptions{From: p, Dir: dir, Arch: "amd64"})
		if err == nil || !strings.Contains(err.Error(), "already the installed k3s") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestBinDir(t *testing.T) {
	d, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	if d != filepath.Dir(exe) {
		t.Errorf("BinDir = %s, want %s", d, filepath.Dir(exe))
	}
}
