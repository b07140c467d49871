package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// k3sRelease serves a fake k3s release for this machine's architecture
// on 127.0.0.1, over HTTPS (trusted through SSL_CERT_FILE, as a mirror
// with a private CA would be) unless plain, and returns its base URL.
func k3sRelease(t *testing.T, version string, bin []byte, sum string, plain bool) string {
	t.Helper()
	names, ok := map[string][2]string{
		"amd64": {"k3s", "sha256sum-amd64.txt"},
		"arm64": {"k3s-arm64", "sha256sum-arm64.txt"},
	}[runtime.GOARCH]
	if !ok {
		t.Skipf("no k3s release asset for %s", runtime.GOARCH)
	}
	asset, sums := names[0], names[1]
	files := map[string][]byte{
		"/" + version + "/" + asset: bin,
		"/" + version + "/" + sums:  []byte(fmt.Sprintf("%s  %s\n", sum, asset)),
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
	if plain {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// runKprobeTrusting runs kprobe ARGS as a process of its own (this test
// binary under the name kprobe, see TestMain) that trusts httptest's
// certificate through SSL_CERT_FILE, as a mirror with a private CA would
// be trusted: Go reads SSL_CERT_FILE once per process.
func runKprobeTrusting(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	cert := httptest.NewUnstartedServer(nil)
	cert.StartTLS()
	cert.Close()
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "kprobe")
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, args...)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+ca, "NO_COLOR=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// fakeK3s is an ELF header for this machine and some bytes.
func fakeK3s() []byte {
	m := map[string]uint16{"amd64": 62, "arm64": 183}[runtime.GOARCH]
	b := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 13+1000)...)
	b[18], b[19] = byte(m), byte(m>>8)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func runKprobe(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	s := IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	code = ExitCode(Run(context.Background(), s, args), &errOut)
	return code, out.String(), errOut.String()
}

func TestInstallK3sCommand(t *testing.T) {
	const version = "v1.32.2+k3s1"
	bin := fakeK3s()
	// The binary from a mirror, its checksum from the publisher (another
	// server), as `install k3s` requires.
	base := k3sRelease(t, version, bin, sha(bin), false)
	publisher := k3sRelease(t, version, bin, sha(bin), false)
	badPublisher := k3sRelease(t, version, bin, strings.Repeat("0", 64), false)
	plainBase := k3sRelease(t, version, bin, sha(bin), true)
	plainPublisher := k3sRelease(t, version, bin, sha(bin), true)
	tmp := t.TempDir()
	local := filepath.Join(tmp, "k3s-local")
	if err := os.WriteFile(local, bin, 0o644); err != nil {
		t.Fatal(err)
	}
	wrongSums := filepath.Join(tmp, "wrong.txt")
	if err := os.WriteFile(wrongSums, []byte(strings.Repeat("1", 64)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	goodSums := filepath.Join(tmp, "good.txt")
	if err := os.WriteFile(goodSums, []byte(sha(bin)+"  k3s-local\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{"download", []string{"install", "k3s", "--version", version, "--base-url", base, "--checksum-base-url", publisher, "--dir", filepath.Join(tmp, "a")},
			0, "installed " + filepath.Join(tmp, "a", "k3s") + "\n", []string{"downloading " + base + "/" + version + "/", "downloaded 1020 bytes"}},
		{"download mismatch", []string{"install", "k3s", "--version", version, "--base-url", base, "--checksum-base-url", badPublisher, "--dir", filepath.Join(tmp, "b")},
			1, "", []string{"sha256 " + sha(bin) + " does not match " + strings.Repeat("0", 64)}},
		{"unknown version", []string{"install", "k3s", "--version", "v1.0.0+k3s9", "--base-url", base, "--checksum-base-url", publisher, "--dir", filepath.Join(tmp, "c")},
			3, "", []string{"404 Not Found; is v1.0.0+k3s9 a k3s release?"}},
		{"checksum from the mirror", []string{"install", "k3s", "--version", version, "--base-url", base, "--checksum-base-url", base + "/sums", "--dir", filepath.Join(tmp, "c")},
			3, "", []string{"the server the binary comes from"}},
		{"plain http", []string{"install", "k3s", "--version", version, "--base-url", plainBase, "--checksum-base-url", publisher, "--dir", filepath.Join(tmp, "c")},
			3, "", []string{"is plain HTTP", "--insecure"}},
		{"plain http checksum", []string{"install", "k3s", "--version", version, "--base-url", base, "--checksum-base-url", plainPublisher, "--dir", filepath.Join(tmp, "c")},
			3, "", []string{"is plain HTTP"}},
		{"insecure", []string{"install", "k3s", "--version", version, "--base-url", plainBase, "--checksum-base-url", plainPublisher, "--insecure", "--dir", filepath.Join(tmp, "g")},
			0, "installed " + filepath.Join(tmp, "g", "k3s") + "\n", nil},
		{"insecure with from", []string{"install", "k3s", "--from", local, "--insecure"}, 3, "", []string{"--insecure and --checksum-base-url go with --version"}},
		{"not a tag", []string{"install", "k3s", "--version", "latest", "--base-url", base, "--dir", filepath.Join(tmp, "c")},
			3, "", []string{`"latest" is not a k3s release tag`}},
		{"from verified", []string{"install", "k3s", "--from", local, "--sha256-file", goodSums, "--dir", filepath.Join(tmp, "d")},
			0, "installed " + filepath.Join(tmp, "d", "k3s") + "\n", nil},
		{"from unverified", []string{"install", "k3s", "--from", local, "--dir", filepath.Join(tmp, "e")},
			0, "installed " + filepath.Join(tmp, "e", "k3s") + "\n", []string{"without verification"}},
		{"from mismatch", []string{"install", "k3s", "--from", local, "--sha256-file", wrongSums, "--dir", filepath.Join(tmp, "f")},
			3, "", []string{"has sha256 " + sha(bin) + " but " + wrongSums + " says " + strings.Repeat("1", 64)}},
		{"no source", []string{"install", "k3s"}, 3, "", []string{"needs --version V (download a release) or --from FILE"}},
		{"both sources", []string{"install", "k3s", "--version", version, "--from", local}, 3, "", []string{"exclude each other"}},
		{"sums without from", []string{"install", "k3s", "--version", version, "--sha256-file", goodSums}, 3, "", []string{"--sha256-file goes with --from"}},
		{"base-url with from", []string{"install", "k3s", "--from", local, "--base-url", base}, 3, "", []string{"--base-url goes with --version"}},
		{"bad base-url", []string{"install", "k3s", "--version", version, "--base-url", "ftp://x"}, 3, "", []string{"is not an http(s) URL"}},
		{"unknown flag", []string{"install", "k3s", "--nope"}, 3, "", []string{"unknown flag: --nope"}},
		{"extra argument", []string{"install", "k3s", "now"}, 3, "", []string{"takes no arguments"}},
		{"unknown engine", []string{"install", "k8s"}, 3, "", []string{`unknown engine "k8s"; kprobe can install: k3s`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runKprobeTrusting(t, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, stdout, stderr)
			}
			if stdout != c.stdout {
				t.Errorf("stdout = %q, want %q", stdout, c.stdout)
			}
			for _, w := range c.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
	got, err := os.ReadFile(filepath.Join(tmp, "a", "k3s"))
	if err != nil || !bytes.Equal(got, bin) {
		t.Errorf("downloaded k3s differs: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "b", "k3s")); err == nil {
		t.Error("a mismatching download was installed")
	}
}

func TestInstallHelp(t *testing.T) {
	code, out, _ := runKprobe("install", "k3s", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, w := range []string{"--version", "--from", "--sha256-file", "--dir", "sha256sum-<arch>.txt", "kprobe install k3s --version v1.32.2+k3s1"} {
		if !strings.Contains(out, w) {
			t.Errorf("help lacks %q", w)
		}
	}
	code, out, _ = runKprobe("install")
	if code != 0 || !strings.Contains(out, "k3s") {
		t.Errorf("kprobe install: exit %d, output %q", code, out)
	}
	_, out, _ = runKprobe("--help")
	if !strings.Contains(out, "install") {
		t.Error("install is not listed in kprobe --help")
	}
}
