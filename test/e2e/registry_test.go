package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// registryName is the loopback registry's name: .test is reserved, so
// only the test's proxy resolves it, as a web IDE's proxy resolves names
// the sandbox cannot (and Go never proxies a loopback address).
const registryName = "registry.kprobe.test"

// pullRegistry is go-containerregistry's registry on loopback HTTPS, with
// a certificate for registryName from a CA of the test's own, and an
// authenticating CONNECT proxy in front of it.
type pullRegistry struct {
	host      string // 127.0.0.1:PORT, the registry itself
	caBundle  string // the system roots and the test's CA (SSL_CERT_FILE)
	pool      *x509.CertPool
	proxyURL  string // http://user:password@127.0.0.1:PORT
	proxy     *connectProxy
	closeDown func()
}

func newPullRegistry(t *testing.T) *pullRegistry {
	t.Helper()
	caPEM, cert, pool := testCA(t, registryName)
	srv := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	bundle := filepath.Join(t.TempDir(), "ca-bundle.pem")
	system, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err := os.WriteFile(bundle, append(append(system, '\n'), caPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &pullRegistry{host: strings.TrimPrefix(srv.URL, "https://"), caBundle: bundle, pool: pool}
	r.proxy = &connectProxy{user: "dev", pass: "s3cr@t:pw", names: map[string]string{registryName: "127.0.0.1"}}
	addr, stop := r.proxy.serve(t)
	r.proxyURL = "http://dev:s3cr%40t%3Apw@" + addr
	r.closeDown = func() { stop(); srv.Close() }
	t.Cleanup(r.closeDown)
	return r
}

// push copies the image of a docker-archive to repoTag on the registry,
// straight (not through the proxy), and returns the name a pod pulls it
// by (through the proxy).
func (r *pullRegistry) push(t *testing.T, archive, repoTag string) string {
	t.Helper()
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(r.host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.TLSClientConfig = &tls.Config{RootCAs: r.pool}
	if err := remote.Write(ref, img, remote.WithTransport(tr)); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(r.host)
	return registryName + ":" + port + "/" + repoTag
}

// testCA makes a CA and a server certificate it signed for host.
func testCA(t *testing.T, host string) ([]byte, tls.Certificate, *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kprobe e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{host}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}, pool
}

// connectProxy is a real HTTP CONNECT proxy on loopback that wants Basic
// credentials. It tunnels to the host asked for, resolving the names in
// names itself (a name only the proxy knows).
type connectProxy struct {
	user, pass string
	names      map[string]string
	mu         sync.Mutex
	tunnels    []string // host:port of every tunnel opened
	refused    int      // requests without the right credentials
}

func (p *connectProxy) serve(t *testing.T) (addr string, stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
	return l.Addr().String(), func() { l.Close() }
}

func (p *connectProxy) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass))
	if req.Header.Get("Proxy-Authorization") != want {
		p.mu.Lock()
		p.refused++
		p.mu.Unlock()
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"e2e\"\r\nContent-Length: 0\r\n\r\n")
		return
	}
	host, port, err := net.SplitHostPort(req.Host)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if ip, ok := p.names[host]; ok {
		host = ip
	}
	up, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 10*time.Second)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	p.mu.Lock()
	p.tunnels = append(p.tunnels, req.Host)
	p.mu.Unlock()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// opened reports whether a tunnel to host:port was opened, and lists all.
func (p *connectProxy) opened(hostPort string) (bool, []string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.tunnels {
		if h == hostPort {
			return true, append([]string(nil), p.tunnels...), p.refused
		}
	}
	return false, append([]string(nil), p.tunnels...), p.refused
}

const pulledDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: hello-pulled, namespace: default}
spec:
  selector: {matchLabels: {app: hello-pulled}}
  template:
    metadata: {labels: {app: hello-pulled}}
    spec:
      containers:
      - name: pulled
        image: IMAGE
        imagePullPolicy: Always
        args: [":8080", "the registry"]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
`

// pulledThroughProxy rolls out a Deployment whose image containerd pulls
// from reg through its authenticating CONNECT proxy: the cluster was
// launched with HTTPS_PROXY and SSL_CERT_FILE (docs/images.md).
func pulledThroughProxy(t *testing.T, u newUser, dataDir string, reg *pullRegistry, archive string) {
	t.Helper()
	ref := reg.push(t, archive, "kprobe/hello:pulled")
	manifest := filepath.Join(t.TempDir(), "pulled.yaml")
	if err := os.WriteFile(manifest, []byte(strings.Replace(pulledDeployment, "IMAGE", ref, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	k := func(args ...string) string {
		out, _ := u.kprobe(0, nil, append([]string{"kubectl", "--data-dir", dataDir, "--"}, args...)...)
		return out
	}
	k("apply", "-f", manifest)
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command(u.bin, append([]string{"kubectl", "--data-dir", dataDir, "--"}, args...)...)
		cmd.Env = u.env
		return cmd.CombinedOutput()
	}
	if out, err := run("rollout", "status", "deployment/hello-pulled", "--timeout", "120s"); err != nil {
		events, _ := run("get", "events", "-n", "default")
		_, tunnels, refused := reg.proxy.opened("")
		t.Fatalf("rollout of %s: %v\n%s\nevents:\n%s\nproxy tunnels %v, refused %d", ref, err, out, events, tunnels, refused)
	}
	pod := k("get", "pod", "-l", "app=hello-pulled", "-o", "jsonpath={.items[0].metadata.name}")
	if out := k("get", "--raw", "/api/v1/namespaces/default/pods/"+pod+":8080/proxy/"); !strings.Contains(out, "hello from the registry") {
		t.Errorf("the pulled image answered %q", out)
	}
	_, port, _ := net.SplitHostPort(reg.host)
	ok, tunnels, refused := reg.proxy.opened(registryName + ":" + port)
	if !ok {
		t.Errorf("no tunnel to the registry through the proxy (tunnels %v)", tunnels)
	}
	t.Logf("pulled %s through the proxy: tunnels %v, %d requests refused for credentials", ref, tunnels, refused)
	// The cluster's own traffic (kubelet to API server, API server to
	// kubelet) stays off the proxy: launch extends NO_PROXY with it.
	for _, h := range tunnels {
		if h != registryName+":"+port && !strings.HasPrefix(h, "example.com:") {
			t.Errorf("the cluster's own traffic went through the proxy: a tunnel to %s", h)
		}
	}
	k("delete", "-f", manifest, "--wait")
}
