package imagestore

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
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

// testCA is a CA and a server certificate it signed for registryHost and
// 127.0.0.1.
type testCA struct {
	pem    []byte
	server tls.Certificate
	pool   *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kprobe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: registryHost},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{registryHost}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &testCA{
		pem:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		server: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key},
		pool:   pool,
	}
}

// testRegistry is go-containerregistry's registry behind TLS on loopback,
// optionally demanding basic auth, counting blob downloads.
type testRegistry struct {
	srv       *httptest.Server
	host      string // 127.0.0.1:PORT
	ca        *testCA
	user, pwd string
	mu        sync.Mutex
	blobGets  map[string]int // digest -> GETs
}

func newTestRegistry(t testing.TB, ca *testCA, user, pwd string) *testRegistry {
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
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.server}}
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
	tr.TLSClientConfig = &tls.Config{RootCAs: r.ca.pool}
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

// testProxy is an HTTP CONNECT proxy that demands basic proxy credentials
// and resolves registryHost to loopback.
type testProxy struct {
	srv       *httptest.Server
	user, pwd string
	mu        sync.Mutex
	connects  []string
	refused   int
}

func newTestProxy(t testing.TB, user, pwd string) *testProxy {
	t.Helper()
	p := &testProxy{user: user, pwd: pwd}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *testProxy) serve(w http.ResponseWriter, r *http.Request) {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pwd))
	if r.Header.Get("Proxy-Authorization") != want {
		p.mu.Lock()
		p.refused++
		p.mu.Unlock()
		w.Header().Set("Proxy-Authenticate", `Basic realm="kprobe-test-proxy"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method != http.MethodConnect {
		http.Error(w, "only CONNECT", http.StatusMethodNotAllowed)
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || host != registryHost {
		http.Error(w, "unknown host", http.StatusBadGateway)
		return
	}
	p.mu.Lock()
	p.connects = append(p.connects, r.Host)
	p.mu.Unlock()
	up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() {
		defer up.Close()
		defer conn.Close()
		io.Copy(conn, up)
	}()
	io.Copy(up, bufferedReader(brw.Reader, conn))
	up.(*net.TCPConn).CloseWrite()
}

// bufferedReader reads what the server already buffered, then the conn.
func bufferedReader(br *bufio.Reader, c net.Conn) io.Reader {
	if br.Buffered() == 0 {
		return c
	}
	b, _ := br.Peek(br.Buffered())
	return io.MultiReader(bytes.NewReader(b), c)
}

func (p *testProxy) url(user, pwd string) string {
	u := strings.TrimPrefix(p.srv.URL, "http://")
	if user != "" {
		return "http://" + user + ":" + pwd + "@" + u
	}
	return "http://" + u
}
