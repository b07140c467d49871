package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kprobe/kprobe/test/tlstest"
)

// registryName is the loopback registry's name: .test is reserved, so
// only the test's proxy resolves it, as a web IDE's proxy resolves names
// the sandbox cannot (and Go never proxies a loopback address).
const registryName = "registry.kprobe.test"

// pullRegistry is go-containerregistry's registry on loopback HTTPS, with
// a certificate for registryName from a CA of the test's own, and an
// authenticating CONNECT proxy in front of it.
type pullRegistry struct {
	host     string // 127.0.0.1:PORT, the registry itself
	caBundle string // the system roots and the test's CA (SSL_CERT_FILE)
	pool     *x509.CertPool
	proxyURL string // http://user:password@127.0.0.1:PORT
	proxy    *tlstest.Proxy
}

func newPullRegistry(t *testing.T) *pullRegistry {
	t.Helper()
	ca := tlstest.NewCA(t, registryName)
	srv := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server}}
	srv.StartTLS()
	bundle := filepath.Join(t.TempDir(), "ca-bundle.pem")
	system, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err := os.WriteFile(bundle, append(append(system, '\n'), ca.PEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &pullRegistry{host: strings.TrimPrefix(srv.URL, "https://"), caBundle: bundle, pool: ca.Pool}
	// The proxy alone resolves the registry's name and example.com (a name
	// in the install mirror's certificate) to loopback, as a web IDE's
	// proxy resolves names the sandbox cannot.
	r.proxy = tlstest.StartProxy(t, "dev", "s3cr@t:pw", func(hostPort string) (string, bool) {
		if host, port, err := net.SplitHostPort(hostPort); err == nil && (host == registryName || host == "example.com") {
			return "127.0.0.1:" + port, true
		}
		return hostPort, true
	})
	r.proxyURL = r.proxy.URL("dev", "s3cr@t:pw")
	t.Cleanup(srv.Close)
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
		t.Fatalf("rollout of %s: %v\n%s\nevents:\n%s\nproxy tunnels %v, refused %d", ref, err, out, events, reg.proxy.Tunnels(), reg.proxy.Refused())
	}
	pod := k("get", "pod", "-l", "app=hello-pulled", "-o", "jsonpath={.items[0].metadata.name}")
	if out := k("get", "--raw", "/api/v1/namespaces/default/pods/"+pod+":8080/proxy/"); !strings.Contains(out, "hello from the registry") {
		t.Errorf("the pulled image answered %q", out)
	}
	_, port, _ := net.SplitHostPort(reg.host)
	tunnels, refused := reg.proxy.Tunnels(), reg.proxy.Refused()
	if !slices.Contains(tunnels, registryName+":"+port) {
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
