package imagestore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	corev1 "k8s.io/api/core/v1"

	"github.com/kprobe/kprobe/test/tlstest"
)

func v1cfg() v1.Config { return v1.Config{Cmd: []string{"/bin/sh"}} }

func nilLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// appImage is a two-layer image whose second layer replaces /etc/version.
func appImage(t testing.TB, version string) v1.Image {
	return testImage(t, v1.Config{Cmd: []string{"/bin/app", "--serve"}, Env: []string{"PATH=/bin"}, WorkingDir: "/srv"},
		tarBytes(t, dir("bin/"), file("bin/app", "#!/bin/sh\necho app\n"), dir("etc/"), file("etc/version", "v0")),
		tarBytes(t, file("etc/version", version)),
	)
}

func dockerConfigJSON(host, user, pwd string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pwd))
	return []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth))
}

func openStore(t testing.TB, o Options) *Store {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
		// Roots keep read-only directories, which a non-root user must
		// make writable before the test's cleanup can delete them.
		t.Cleanup(func() { removeTree(o.Dir) })
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reason(err error) string {
	var pe *PullError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return fmt.Sprintf("not a *PullError: %v", err)
}

func readRoot(t testing.TB, img *Image, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(img.Root, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPullTLSDockerConfig pulls over TLS (the store trusts the test CA
// through CABundle) with basic-auth credentials from a docker config file.
func TestPullTLSDockerConfig(t *testing.T) {
	ca := tlstest.NewCA(t, registryHost)
	reg := newTestRegistry(t, ca, "alice", "s3cret")
	ref := reg.push(t, "team/app:v1", appImage(t, "v1"))

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca.PEM, 0o600)
	cfgFile := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(cfgFile, dockerConfigJSON(reg.host, "alice", "s3cret"), 0o600)
	s := openStore(t, Options{CABundle: caFile, DockerConfig: cfgFile})

	var last [2]int64
	img, err := s.Ensure(context.Background(), ref, corev1.PullIfNotPresent, nil, func(r string, done, total int64) {
		if r != ref {
			t.Errorf("progress for %q", r)
		}
		last = [2]int64{done, total}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readRoot(t, img, "etc/version"); got != "v1" {
		t.Errorf("etc/version = %q, want the upper layer's v1", got)
	}
	if img.Ref != ref || !strings.HasPrefix(img.Digest, "sha256:") || img.Config.WorkingDir != "/srv" || img.Config.Cmd[0] != "/bin/app" || img.Size == 0 {
		t.Errorf("image = %+v", img)
	}
	if last[0] == 0 || last[0] != last[1] {
		t.Errorf("last progress = %d of %d, want all bytes", last[0], last[1])
	}

	// Without credentials the registry refuses: ErrImagePull with the cause.
	anon := openStore(t, Options{CABundle: string(ca.PEM), DockerConfig: filepath.Join(t.TempDir(), "none.json")})
	_, err = anon.Ensure(context.Background(), ref, corev1.PullAlways, nil, nil)
	if reason(err) != ReasonErrImagePull || !strings.Contains(err.Error(), "401") {
		t.Errorf("anonymous pull: %v, want ErrImagePull with 401", err)
	}
}

// TestPullSecret pulls with the pod's imagePullSecrets bytes: a secret for
// another registry is skipped, a wrong one is tried and passed over.
func TestPullSecret(t *testing.T) {
	ca := tlstest.NewCA(t, registryHost)
	reg := newTestRegistry(t, ca, "bob", "hunter2")
	ref := reg.push(t, "app:v1", appImage(t, "v1"))
	s := openStore(t, Options{CABundle: string(ca.PEM), DockerConfig: filepath.Join(t.TempDir(), "none.json")})
	secrets := [][]byte{
		dockerConfigJSON("elsewhere.test:5000", "bob", "hunter2"),
		dockerConfigJSON(reg.host, "bob", "wrong"),
		dockerConfigJSON("https://"+reg.host+"/v1/", "bob", "hunter2"),
	}
	img, err := s.Ensure(context.Background(), ref, corev1.PullAlways, secrets, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := readRoot(t, img, "bin/app"); !strings.Contains(got, "echo app") {
		t.Errorf("bin/app = %q", got)
	}
	_, err = s.Ensure(context.Background(), ref, corev1.PullAlways, [][]byte{[]byte("{not json")}, nil)
	if reason(err) != ReasonErrImagePull || !strings.Contains(err.Error(), "pull secret") {
		t.Errorf("bad secret: %v", err)
	}
}

// TestPullThroughProxy reaches the registry only through an HTTP CONNECT
// proxy that wants credentials, given in HTTPS_PROXY.
func TestPullThroughProxy(t *testing.T) {
	ca := tlstest.NewCA(t, registryHost)
	reg := newTestRegistry(t, ca, "", "")
	reg.push(t, "app:v1", appImage(t, "v1"))
	_, port, _ := strings.Cut(reg.host, ":")
	ref := registryHost + ":" + port + "/app:v1"
	proxy := tlstest.StartProxy(t, "proxyuser", "proxypass", func(hostPort string) (string, bool) {
		host, port, _ := net.SplitHostPort(hostPort)
		return "127.0.0.1:" + port, host == registryHost
	})
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	t.Setenv("HTTPS_PROXY", proxy.URL("proxyuser", "proxypass"))
	t.Setenv("https_proxy", "")
	s := openStore(t, Options{CABundle: string(ca.PEM)})
	img, err := s.Ensure(context.Background(), ref, corev1.PullIfNotPresent, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if readRoot(t, img, "etc/version") != "v1" {
		t.Error("wrong content through the proxy")
	}
	if len(proxy.Tunnels()) == 0 || proxy.Tunnels()[0] != registryHost+":"+port {
		t.Errorf("proxy CONNECTs = %v", proxy.Tunnels())
	}

	// Wrong proxy password: the proxy's 407 is the reason given.
	t.Setenv("HTTPS_PROXY", proxy.URL("proxyuser", "nope"))
	s2 := openStore(t, Options{CABundle: string(ca.PEM)})
	_, err = s2.Ensure(context.Background(), ref, corev1.PullIfNotPresent, nil, nil)
	if reason(err) != ReasonErrImagePull || !strings.Contains(err.Error(), "Proxy Authentication Required") {
		t.Errorf("wrong proxy password: %v", err)
	}

	// The intercepting proxy's CA missing: the TLS failure is the reason.
	t.Setenv("HTTPS_PROXY", proxy.URL("proxyuser", "proxypass"))
	s3 := openStore(t, Options{})
	_, err = s3.Ensure(context.Background(), ref, corev1.PullIfNotPresent, nil, nil)
	if reason(err) != ReasonErrImagePull || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted CA: %v", err)
	}
}

// TestPullPolicy: Never uses only what is there, IfNotPresent keeps the
// stored image, Always picks up a new digest behind the same tag.
func TestPullPolicy(t *testing.T) {
	ca := tlstest.NewCA(t, registryHost)
	reg := newTestRegistry(t, ca, "", "")
	ref := reg.push(t, "app:stable", appImage(t, "v1"))
	s := openStore(t, Options{CABundle: string(ca.PEM)})
	ctx := context.Background()

	if _, err := s.Ensure(ctx, ref, corev1.PullNever, nil, nil); reason(err) != ReasonErrImageNeverPull {
		t.Fatalf("Never before any pull: %v", err)
	}
	first, err := s.Ensure(ctx, ref, corev1.PullIfNotPresent, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.push(t, "app:stable", appImage(t, "v2"))
	kept, err := s.Ensure(ctx, ref, corev1.PullIfNotPresent, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if kept.Digest != first.Digest || readRoot(t, kept, "etc/version") != "v1" {
		t.Errorf("IfNotPresent pulled again: %s", kept.Digest)
	}
	fresh, err := s.Ensure(ctx, ref, corev1.PullAlways, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Digest == first.Digest || readRoot(t, fresh, "etc/version") != "v2" || fresh.Root == first.Root {
		t.Errorf("Always kept the old image: %s", fresh.Digest)
	}
	never, err := s.Ensure(ctx, ref, corev1.PullNever, nil, nil)
	if err != nil || never.Digest != fresh.Digest {
		t.Errorf("Never after Always: %v %v", never, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].Digest != fresh.Digest {
		t.Errorf("List = %+v, %v", list, err)
	}
}

// TestPullErrors: one case per PullError reason.
func TestPullErrors(t *testing.T) {
	ca := tlstest.NewCA(t, registryHost)
	reg := newTestRegistry(t, ca, "", "")
	ref := reg.push(t, "app:v1", appImage(t, "v1"))
	s := openStore(t, Options{CABundle: string(ca.PEM)})
	ctx := context.Background()
	if _, err := s.Ensure(ctx, "Not//A Valid:Ref", corev1.PullIfNotPresent, nil, nil); reason(err) != ReasonInvalidImageName {
		t.Errorf("invalid name: %v", err)
	}
	if _, err := s.Ensure(ctx, reg.host+"/app:missing", corev1.PullNever, nil, nil); reason(err) != ReasonErrImageNeverPull {
		t.Errorf("never: %v", err)
	}
	_, err := s.Ensure(ctx, reg.host+"/app:missing", corev1.PullIfNotPresent, nil, nil)
	if reason(err) != ReasonErrImagePull || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Errorf("missing tag: %v", err)
	}
	img, err := s.Ensure(ctx, ref, corev1.PullIfNotPresent, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.metaPath(img.ID), []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, Options{Dir: s.o.Dir}) // a fresh process reads the record
	if _, err := s2.Ensure(ctx, ref, corev1.PullIfNotPresent, nil, nil); reason(err) != ReasonImageInspectError {
		t.Errorf("broken record: %v", err)
	}
}

// TestConcurrentEnsure: many Ensures of one image download its layers once.
func TestConcurrentEnsure(t *testing.T) {
	ca := tlstest.NewCA(t, registryHost)
	reg := newTestRegistry(t, ca, "", "")
	app := appImage(t, "v1")
	ref := reg.push(t, "app:v1", app)
	s := openStore(t, Options{CABundle: string(ca.PEM)})
	var wg sync.WaitGroup
	roots := make([]string, 8)
	errs := make([]error, 8)
	for i := range roots {
		wg.Go(func() {
			img, err := s.Ensure(context.Background(), ref, corev1.PullIfNotPresent, nil, nil)
			errs[i] = err
			if err == nil {
				roots[i] = img.Root
			}
		})
	}
	wg.Wait()
	for i := range roots {
		if errs[i] != nil || roots[i] != roots[0] {
			t.Fatalf("ensure %d: %v, root %s vs %s", i, errs[i], roots[i], roots[0])
		}
	}
	layers, _ := app.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		reg.mu.Lock()
		n := reg.blobGets[d.String()]
		reg.mu.Unlock()
		if n != 1 {
			t.Errorf("layer %s downloaded %d times, want once", d, n)
		}
	}
}

// TestPullIndex: a multi-platform index resolves to this machine's image,
// and Digest is the index's (what the registry serves for the tag).
func TestPullIndex(t *testing.T) {
	ca := tlstest.NewCA(t, registryHost)
	reg := newTestRegistry(t, ca, "", "")
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: appImage(t, other), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: other}}},
		mutate.IndexAddendum{Add: appImage(t, runtime.GOARCH), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	ref := reg.pushIndex(t, "multi:v1", idx)
	s := openStore(t, Options{CABundle: string(ca.PEM)})
	img, err := s.Ensure(context.Background(), ref, corev1.PullIfNotPresent, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	if readRoot(t, img, "etc/version") != runtime.GOARCH || img.Digest != d.String() {
		t.Errorf("got %s (%s), want this platform's image of index %s", readRoot(t, img, "etc/version"), img.Digest, d)
	}
}

// TestInsecureRegistries: only listed registries may be reached over plain
// HTTP (loopback ones always may, as go-containerregistry allows).
func TestInsecureRegistries(t *testing.T) {
	s := openStore(t, Options{InsecureRegistries: []string{"registry.kprobe.test:5000"}})
	for ref, want := range map[string]string{
		"registry.kprobe.test:5000/app:1": "http",
		"registry.kprobe.test:5001/app:1": "https",
		"registry.kprobe.test/app:1":      "https",
	} {
		r, err := s.parseRef(ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Context().Scheme(); got != want {
			t.Errorf("%s: scheme %s, want %s", ref, got, want)
		}
	}
}
