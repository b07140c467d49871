package imagestore

import (
	"archive/tar"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kprobe/kprobe/test/tlstest"
)

// registryHost is the name the proxy test gives the loopback registry: a
// name only the test's proxy resolves (Go never proxies loopback
// addresses), as a web IDE's proxy resolves names the sandbox cannot.
const registryHost = "registry.kprobe.test"

// tent is one entry of a tar layer built by a test.
type tent struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
	major, minor     int64
}

func file(name, body string) tent { return tent{name: name, body: body, typ: tar.TypeReg, mode: 0o644} }
func dir(name string) tent        { return tent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) tent {
	return tent{name: name, link: target, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, target string) tent { return tent{name: name, link: target, typ: tar.TypeLink} }

var mtime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func tarBytes(t testing.TB, ents ...tent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Size: int64(len(e.body)), ModTime: mtime, Devmajor: e.major, Devminor: e.minor, Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testImage builds an image of gzip layers from the given tar layers.
func testImage(t testing.TB, cfg v1.Config, layers ...[]byte) v1.Image {
	t.Helper()
	img := empty.Image
	for _, l := range layers {
		b := l
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	img, err := mutate.Config(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// testRegistry is go-containerregistry's registry behind TLS on loopback,
// optionally demanding basic auth, counting blob downloads.
type testRegistry struct {
	srv       *httptest.Server
	host      string // 127.0.0.1:PORT
	ca        *tlstest.CA
	user, pwd string
	mu        sync.Mutex
	blobGets  map[string]int // digest -> GETs
}

func newTestRegistry(t testing.TB, ca *tlstest.CA, user, pwd string) *testRegistry {
	t.Helper()
	r := &testRegistry{ca: ca, user: user, pwd: pwd, blobGets: map[string]int{}}
	reg := registry.New(registry.Logger(nilLogger()))
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != r.user || p != r.pwd {
				w.Header().Set("WWW-Authenticate", `Basic realm="kprobe-test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if _, d, ok := strings.Cut(req.URL.Path, "/blobs/"); ok && req.Method == http.MethodGet {
			r.mu.Lock()
			r.blobGets[d]++
			r.mu.Unlock()
		}
		reg.ServeHTTP(w, req)
	})
	r.srv = httptest.NewUnstartedServer(h)
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server}}
	r.srv.Config.ErrorLog = nilLogger() // the untrusted-CA cases log handshake failures
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	r.host = strings.TrimPrefix(r.srv.URL, "https://")
	if c, err := net.Dial("tcp", r.host); err != nil {
		// A fresh network namespace has lo down (the zoo's userns-root).
		t.Skipf("loopback unusable here: %v", err)
	} else {
		c.Close()
	}
	return r
}

// target is repoTag on this registry and a transport that trusts its CA.
func (r *testRegistry) target(t testing.TB, repoTag string) (name.Reference, http.RoundTripper) {
	t.Helper()
	ref, err := name.ParseReference(r.host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: r.ca.Pool}
	return ref, tr
}

// push writes img as ref ("REPO:TAG" on this registry).
func (r *testRegistry) push(t testing.TB, repoTag string, img v1.Image) string {
	t.Helper()
	ref, tr := r.target(t, repoTag)
	opts := []remote.Option{remote.WithTransport(tr)}
	if r.user != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.user, Password: r.pwd}))
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatal(err)
	}
	return ref.String()
}

// pushIndex writes a multi-platform index as ref ("REPO:TAG").
func (r *testRegistry) pushIndex(t testing.TB, repoTag string, idx v1.ImageIndex) string {
	t.Helper()
	ref, tr := r.target(t, repoTag)
	if err := remote.WriteIndex(ref, idx, remote.WithTransport(tr)); err != nil {
		t.Fatal(err)
	}
	return ref.String()
}
