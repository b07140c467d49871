package install_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters/download"
	"github.com/kprobe/kprobe/adapters/install"
	"github.com/kprobe/kprobe/adapters/install/mirrortest"
	"github.com/kprobe/kprobe/test/tlstest"
)

func sources(t *testing.T) map[string]string {
	t.Helper()
	src, err := mirrortest.FakeSources(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return src
}

type fixture struct {
	root, dir, ca string
	src           map[string]string
	srv           *mirrortest.Server
	cache         string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{root: t.TempDir(), dir: filepath.Join(t.TempDir(), "engine"), cache: t.TempDir(), src: sources(t)}
	if err := mirrortest.Build(f.root, install.DefaultVersions, "amd64", f.src); err != nil {
		t.Fatal(err)
	}
	f.srv = mirrortest.Serve(f.root)
	t.Cleanup(f.srv.Close)
	f.ca = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})
	if err := os.WriteFile(f.ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) install(t *testing.T, mirror string) (string, error) {
	t.Helper()
	client, err := download.NewClient(download.ClientOptions{CAFile: f.ca})
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	_, err = install.InstallKubernetes(context.Background(), install.KubernetesOptions{
		Versions: install.DefaultVersions, Dir: f.dir, Mirror: mirror, Arch: "amd64",
		Cache: &download.Cache{Dir: f.cache, Client: client, Progress: &progress},
	})
	return progress.String(), err
}

// upstreamPath is the mirror path of the artifact named name.
func upstreamPath(t *testing.T, name string, sums bool) string {
	t.Helper()
	arts, err := install.Artifacts(install.DefaultVersions, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range arts {
		if a.Name == name {
			u := a.URL
			if sums {
				u = a.SumsURL
			}
			return "/" + strings.TrimPrefix(u, "https://")
		}
	}
	t.Fatalf("no artifact %s", name)
	return ""
}

func TestInstallKubernetesFromMirror(t *testing.T) {
	f := newFixture(t)
	progress, err := f.install(t, f.srv.URL)
	if err != nil {
		t.Fatalf("install: %v\n%s", err, progress)
	}
	for dest, src := range f.src {
		got, err := os.ReadFile(filepath.Join(f.dir, dest))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(src)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the mirror packed", dest)
		}
		fi, _ := os.Stat(filepath.Join(f.dir, dest))
		exec := fi.Mode()&0o111 != 0
		if exec != !strings.HasPrefix(dest, "images/") {
			t.Errorf("%s has mode %v", dest, fi.Mode())
		}
	}
	// The upstream layouts were read: dl.k8s.io's per-binary .sha256,
	// etcd's SHA256SUMS, helm's .sha256sum.
	reqs := strings.Join(f.srv.Requests(), "\n")
	for _, p := range []string{
		"/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet.sha256",
		"/github.com/etcd-io/etcd/releases/download/v3.6.5/SHA256SUMS",
		"/github.com/containernetworking/plugins/releases/download/v1.8.0/cni-plugins-linux-amd64-v1.8.0.tgz",
		"/get.helm.sh/helm-v3.22.0-linux-amd64.tar.gz.sha256sum",
	} {
		if !strings.Contains(reqs, p+" ") {
			t.Errorf("no request for %s:\n%s", p, reqs)
		}
	}

	// A second install takes every artifact from the cache.
	n := len(f.srv.Requests())
	progress, err = f.install(t, f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.srv.Requests()[n:] {
		if !strings.Contains(r, "sha256") && !strings.Contains(r, "SHA256SUMS") {
			t.Errorf("second install downloaded %s", r)
		}
	}
	if strings.Count(progress, ": cached") != 12 {
		t.Errorf("second install progress:\n%s", progress)
	}
}

func TestInstallKubernetesRefusesCorruptArtifact(t *testing.T) {
	f := newFixture(t)
	// The mirror's runc is altered after its checksum was published.
	runc := mirrortest.Local(f.root, "https:/"+upstreamPath(t, "runc", false))
	os.Remove(runc)
	if err := os.WriteFile(runc, []byte("\x7fELF tampered"), 0o755); err != nil {
		t.Fatal(err)
	}
	progress, err := f.install(t, f.srv.URL)
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("install of a corrupt runc: %v\n%s", err, progress)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "runc")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the corrupt runc was installed: %v", err)
	}
	for _, m := range globAll(t, f.cache) {
		if strings.HasSuffix(m, ".part") {
			t.Errorf("a mismatching download is kept: %s", m)
		}
	}
}

func TestInstallKubernetesRefusesWrongChecksum(t *testing.T) {
	f := newFixture(t)
	sums := mirrortest.Local(f.root, "https:/"+upstreamPath(t, "helm", true))
	if err := os.WriteFile(sums, []byte(strings.Repeat("ab", 32)+"  helm-v3.22.0-linux-amd64.tar.gz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := f.install(t, f.srv.URL)
	if err == nil || !strings.Contains(err.Error(), "does not match "+strings.Repeat("ab", 32)) {
		t.Fatalf("install against a wrong checksum: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "helm")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("helm was installed: %v", err)
	}
}

func globAll(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { out = append(out, p); return nil })
	return out
}

func TestInstallKubernetesResumesInterruptedDownload(t *testing.T) {
	f := newFixture(t)
	p := upstreamPath(t, "helm", false)
	fi, err := os.Stat(mirrortest.Local(f.root, "https:/"+p))
	if err != nil {
		t.Fatal(err)
	}
	half := fi.Size() / 2
	f.srv.CutNext(p, half)
	progress, err := f.install(t, f.srv.URL)
	if err == nil || !strings.Contains(err.Error(), "run the install again to resume") {
		t.Fatalf("interrupted install: %v\n%s", err, progress)
	}
	parts, _ := filepath.Glob(filepath.Join(f.cache, "sha256", "*.part"))
	if len(parts) != 1 {
		t.Fatalf("parts: %v", parts)
	}
	if pi, _ := os.Stat(parts[0]); pi.Size() != half {
		t.Fatalf("the .part holds %d bytes, want %d", pi.Size(), half)
	}
	n := len(f.srv.Requests())
	progress, err = f.install(t, f.srv.URL)
	if err != nil {
		t.Fatalf("resumed install: %v\n%s", err, progress)
	}
	want := fmt.Sprintf("%s range=bytes=%d-", p, half)
	resumed := false
	for _, r := range f.srv.Requests()[n:] {
		resumed = resumed || r == want
		if r == p+" range=" {
			t.Errorf("helm was downloaded again from the start")
		}
	}
	if !resumed || !strings.Contains(progress, fmt.Sprintf("helm: resuming at %.1f MiB", float64(half)/(1<<20))) {
		t.Fatalf("no resume (%s):\n%s\n%v", want, progress, f.srv.Requests()[n:])
	}
	got, _ := os.ReadFile(filepath.Join(f.dir, "helm"))
	wantHelm, _ := os.ReadFile(f.src["helm"])
	if !bytes.Equal(got, wantHelm) {
		t.Error("the resumed helm differs")
	}
}

func TestInstallKubernetesRefusesPlainHTTP(t *testing.T) {
	f := newFixture(t)
	httpMirror := "http://" + strings.TrimPrefix(f.srv.URL, "https://")
	n := len(f.srv.Requests())
	_, err := f.install(t, httpMirror)
	if !errors.Is(err, install.ErrInput) || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("http mirror: %v", err)
	}
	if len(f.srv.Requests()) != n {
		t.Errorf("a request was made: %v", f.srv.Requests()[n:])
	}
}

func TestInstallKubernetesThroughAuthenticatingProxy(t *testing.T) {
	f := newFixture(t)
	u, _ := url.Parse(f.srv.URL)
	// The proxy sends every tunnel to the mirror, whatever host was asked
	// for, so the client must not resolve the mirror's name itself.
	proxy := tlstest.StartProxy(t, "dev", "s3cr@t:pw", func(string) (string, bool) { return u.Host, true })
	// example.com is in the test server's certificate and resolves to
	// no loopback address: only the proxy can reach the mirror by it.
	mirror := "https://example.com:" + u.Port()
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	t.Setenv("HTTPS_PROXY", proxy.URL("dev", "wrong"))
	if _, err := f.install(t, mirror); err == nil || !strings.Contains(err.Error(), "Proxy Authentication Required") {
		t.Fatalf("wrong proxy credentials: %v", err)
	}
	t.Setenv("HTTPS_PROXY", proxy.URL("dev", "s3cr@t:pw"))
	if progress, err := f.install(t, mirror); err != nil {
		t.Fatalf("install through the proxy: %v\n%s", err, progress)
	}
	if tunnels := proxy.Tunnels(); len(tunnels) == 0 || tunnels[0] != "example.com:"+u.Port() {
		t.Fatalf("tunnels: %v", tunnels)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "kubelet")); err != nil {
		t.Fatal(err)
	}
}
