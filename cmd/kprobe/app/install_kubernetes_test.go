package app

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters/install"
	"github.com/kprobe/kprobe/adapters/install/mirrortest"
)

// TestInstallKubernetesCommand runs `kprobe install kubernetes --mirror`
// against a mirror laid out like the upstream release sites on loopback
// HTTPS (mirrortest), through the command line: each failure the issue
// names ends with its exit code and a message, and a fresh dir installs.
func TestInstallKubernetesCommand(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the fake engine is amd64")
	}
	src, err := mirrortest.FakeSources(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := mirrortest.Build(root, install.DefaultVersions, "amd64", src); err != nil {
		t.Fatal(err)
	}
	srv := mirrortest.Serve(root)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	arts, err := install.Artifacts(install.DefaultVersions, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	urls := map[string]install.Artifact{}
	for _, a := range arts {
		urls[a.Name] = a
	}
	path := func(u string) string { return "/" + strings.TrimPrefix(u, "https://") }
	tmp := t.TempDir()
	run := func(mirror, dir string) (int, string) {
		code, out, stderr := runKprobe("install", "kubernetes", "--mirror", mirror, "--ca-file", ca,
			"--bin-dir", filepath.Join(tmp, dir), "--cache-dir", filepath.Join(tmp, dir+"-cache"))
		return code, out + stderr
	}
	expect := func(name string, code int, out string, wantCode int, want ...string) {
		t.Helper()
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d\n%s", name, code, wantCode, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", name, w, out)
			}
		}
	}

	code, out := run("http://"+strings.TrimPrefix(srv.URL, "https://"), "http")
	expect("plain HTTP mirror", code, out, ExitBadInput, "plain HTTP")

	// Interrupted half way through helm, then resumed by the same command.
	helm := path(urls["helm"].URL)
	fi, err := os.Stat(mirrortest.Local(root, urls["helm"].URL))
	if err != nil {
		t.Fatal(err)
	}
	srv.CutNext(helm, fi.Size()/2)
	code, out = run(srv.URL, "fresh")
	expect("interrupted", code, out, ExitInternal, "run the install again to resume")
	code, out = run(srv.URL, "fresh")
	expect("resumed", code, out, ExitOK, "helm: resuming at", "installed the kubernetes engine in "+filepath.Join(tmp, "fresh"))

	// A wrong checksum file, then a corrupt artifact: nothing installed.
	sums := mirrortest.Local(root, urls["helm"].SumsURL)
	good, _ := os.ReadFile(sums)
	if err := os.WriteFile(sums, []byte(strings.Repeat("ab", 32)+"  "+urls["helm"].SumName+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = run(srv.URL, "wrongsum")
	expect("wrong checksum", code, out, ExitInternal, "does not match "+strings.Repeat("ab", 32))
	os.WriteFile(sums, good, 0o644)
	runc := mirrortest.Local(root, urls["runc"].URL)
	os.Remove(runc)
	if err := os.WriteFile(runc, []byte("\x7fELF tampered"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out = run(srv.URL, "corrupt")
	expect("corrupt artifact", code, out, ExitInternal, "does not match", "nothing was installed")
	for _, d := range []string{"wrongsum/helm", "corrupt/runc"} {
		if _, err := os.Stat(filepath.Join(tmp, d)); err == nil {
			t.Errorf("%s was installed", d)
		}
	}
}
