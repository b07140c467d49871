// Package install puts the engines kprobe drives on the machine: the k3s
// binary, from a k3s GitHub release (checked against the release's
// sha256sum file) or from a local file.
package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/kprobe/kprobe/adapters/download"
)

// DefaultBaseURL is where k3s releases are downloaded from:
// <base>/<version>/<asset>.
const DefaultBaseURL = "https://github.com/k3s-io/k3s/releases/download"

// ErrInput marks errors caused by the caller's choices (a version that is
// not a release, a file that does not match its checksum...), as opposed
// to failures of the machine or the network.
var ErrInput = download.ErrInput

var inputErrorf = download.InputErrorf

// InstallOptions choose what to install and where.
type InstallOptions struct {
	// Version is a k3s release tag such as v1.32.2+k3s1. Exactly one of
	// Version and From is set.
	Version string
	// From is a local k3s binary to install.
	From string
	// SHA256File, only with From, is a checksum file: sha256sum output
	// (such as a release's sha256sum-amd64.txt) or a bare digest.
	SHA256File string
	// Dir is the install directory; default BinDir().
	Dir string
	// Arch is a GOARCH; default runtime.GOARCH.
	Arch string
	// BaseURL overrides DefaultBaseURL (tests, mirrors): where the binary
	// is downloaded from, <base>/<version>/<asset>.
	BaseURL string
	// ChecksumBaseURL is where the release's sha256sum-<arch>.txt is
	// read from, laid out like BaseURL; default DefaultBaseURL, the
	// release's publisher. It must be another server than BaseURL unless
	// BaseURL is the publisher itself: a mirror that serves a tampered
	// binary serves a matching checksum file too.
	ChecksumBaseURL string
	// Insecure allows plain-HTTP URLs (and redirects to them); without it
	// every download is HTTPS.
	Insecure bool
	// Client does the downloads; default http.DefaultClient (which honours
	// HTTP_PROXY/HTTPS_PROXY).
	Client *http.Client
	// Progress receives human-readable progress lines; nil discards them.
	Progress io.Writer
}

// BinDir is kprobe's own bin dir: the directory of the running
// executable.
func BinDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find kprobe's own directory: %w", err)
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return filepath.Dir(exe), nil
}

// Asset names the release files for an architecture: the binary and the
// checksum file listing it (as k3s's install.sh does).
func Asset(arch string) (binary, sums string, err error) {
	switch arch {
	case "amd64":
		return "k3s", "sha256sum-amd64.txt", nil
	case "arm64":
		return "k3s-arm64", "sha256sum-arm64.txt", nil
	case "arm":
		return "k3s-armhf", "sha256sum-arm.txt", nil
	}
	return "", "", inputErrorf("k3s publishes no binary for architecture %q (amd64, arm64 and arm only)", arch)
}

var versionRe = regexp.MustCompile(`^v\d+\.\d+\.\d+(-rc\d+)?\+k3s\d+$`)

// InstallK3s installs k3s as <dir>/k3s (mode 0755, written atomically)
// and returns its path.
func InstallK3s(ctx context.Context, o InstallOptions) (string, error) {
	if (o.Version == "") == (o.From == "") {
		return "", inputErrorf("give either a release version or a file to install from")
	}
	if o.SHA256File != "" && o.From == "" {
		return "", inputErrorf("a checksum file goes with a file to install from; release downloads are checked against the release's own sums")
	}
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Dir == "" {
		d, err := BinDir()
		if err != nil {
			return "", err
		}
		o.Dir = d
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return "", fmt.Errorf("create install dir: %w", err)
	}
	dest := filepath.Join(o.Dir, "k3s")
	if o.From != "" {
		return dest, installFile(o, dest)
	}
	return dest, downloadK3s(ctx, o, dest)
}

// downloadK3s fetches the sums file, then the binary, and installs the
// binary if its digest is the one the sums file lists.
func downloadK3s(ctx context.Context, o InstallOptions, dest string) error {
	if !versionRe.MatchString(o.Version) {
		return inputErrorf("%q is not a k3s release tag; tags look like v1.32.2+k3s1 (see https://github.com/k3s-io/k3s/releases)", o.Version)
	}
	binName, sumsName, err := Asset(o.Arch)
	if err != nil {
		return err
	}
	base, sumsBase, err := sources(o)
	if err != nil {
		return err
	}
	client := download.HTTPSOnly(o.Client, o.Insecure)
	sumsURL := sumsBase + "/" + o.Version + "/" + sumsName
	sums, err := download.Sums(ctx, client, sumsURL, notFound(sumsURL, o.Version))
	if err != nil {
		return err
	}
	want, err := download.LookupSum(sums, binName)
	if err != nil {
		return fmt.Errorf("%s: %w", sumsURL, err)
	}

	binURL := base + "/" + o.Version + "/" + binName
	fmt.Fprintf(o.Progress, "downloading %s\n", binURL)
	return writeAtomic(dest, want, o.Arch, func(w io.Writer) error {
		p := download.NewProgress(o.Progress, "k3s "+o.Version, false)
		n, err := download.Get(ctx, client, binURL, w, p, notFound(binURL, o.Version))
		if err != nil {
			return err
		}
		p.Done(n)
		return nil
	}, func(got string) error {
		return fmt.Errorf("%s: sha256 %s does not match %s in %s; the download is corrupt or was tampered with, nothing was installed", binURL, got, want, sumsURL)
	})
}

// sources returns the binary's and the checksum file's base URLs, checked:
// HTTPS unless o.Insecure, and two servers unless the binary comes from
// the publisher (DefaultBaseURL).
func sources(o InstallOptions) (base, sumsBase string, err error) {
	base = strings.TrimRight(o.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	sumsBase = strings.TrimRight(o.ChecksumBaseURL, "/")
	if sumsBase == "" {
		sumsBase = DefaultBaseURL
	}
	bu, err := checkURL("the base URL", base, o.Insecure)
	if err != nil {
		return "", "", err
	}
	su, err := checkURL("the checksum base URL", sumsBase, o.Insecure)
	if err != nil {
		return "", "", err
	}
	if base != DefaultBaseURL && strings.EqualFold(bu.Host, su.Host) {
		return "", "", inputErrorf("the checksum file would come from %s, the server the binary comes from: a server that alters the binary alters its checksum too; take the checksum from another source (the release itself by default, or --checksum-base-url)", bu.Host)
	}
	return base, sumsBase, nil
}

// checkURL is download.CheckURL, naming the --insecure this command has.
func checkURL(what, s string, insecure bool) (*url.URL, error) {
	u, err := download.CheckURL(what, s, insecure)
	if err != nil && strings.HasPrefix(s, "http://") {
		return nil, inputErrorf("%s %s is plain HTTP, which anyone on the path can alter: use https, or --insecure to accept that", what, s)
	}
	return u, err
}

// installFile copies a local binary, verified when a checksum file is
// given.
func installFile(o InstallOptions, dest string) error {
	src, err := os.Open(o.From)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return inputErrorf("%s does not exist", o.From)
		}
		return inputErrorf("%v", err)
	}
	defer src.Close()
	if fi, err := src.Stat(); err == nil && !fi.Mode().IsRegular() {
		return inputErrorf("%s is not a regular file", o.From)
	}
	if same, _ := sameFile(o.From, dest); same {
		return inputErrorf("%s is already the installed k3s", o.From)
	}
	want := ""
	if o.SHA256File != "" {
		data, err := download.ReadSumsFile(o.SHA256File)
		if err != nil {
			return inputErrorf("read checksum file: %v", err)
		}
		binName, _, _ := Asset(o.Arch)
		want, err = download.LookupSum(data, binName, filepath.Base(o.From))
		if err != nil {
			return inputErrorf("%s: %v", o.SHA256File, err)
		}
	}
	err = writeAtomic(dest, want, o.Arch, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	}, func(got string) error {
		return inputErrorf("%s has sha256 %s but %s says %s; refusing to install it", o.From, got, o.SHA256File, want)
	})
	if err == nil && want == "" {
		fmt.Fprintf(o.Progress, "installed %s without verification (no --sha256-file given)\n", o.From)
	}
	return err
}

func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

// writeAtomic streams fill into a temporary file next to dest, hashing
// it; when want is set the digest must match (else mismatch builds the
// error). Only a complete, verified ELF binary is renamed over dest.
func writeAtomic(dest, want, arch string, fill func(io.Writer) error, mismatch func(got string) error) error {
	dir := filepath.Dir(dest)
	f, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write to %s: %w", dir, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	h := sha256.New()
	head := &headWriter{n: 20}
	if err := fill(io.MultiWriter(f, h, head)); err != nil {
		f.Close()
		return err
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want != "" && !strings.EqualFold(got, want) {
		f.Close()
		return mismatch(got)
	}
	if err := checkELF(head.buf, arch); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o755); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("install %s: %w", dest, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// elfMachine is the ELF e_machine of each architecture k3s ships.
var elfMachine = map[string]uint16{"amd64": 62, "arm64": 183, "arm": 40}

// checkELF refuses what is not an ELF executable for arch: an HTML error
// page saved as a binary, or a k3s built for another machine.
func checkELF(head []byte, arch string) error {
	if len(head) < 20 || !bytes.Equal(head[:4], []byte("\x7fELF")) {
		return inputErrorf("the file is not an ELF executable (it starts with %q); is it really a k3s binary?", head[:min(len(head), 8)])
	}
	var m uint16
	if head[5] == 2 { // big-endian
		m = uint16(head[18])<<8 | uint16(head[19])
	} else {
		m = uint16(head[18]) | uint16(head[19])<<8
	}
	if want, ok := elfMachine[arch]; ok && m != want {
		return inputErrorf("the file is an ELF binary for machine %d, not for %s (machine %d); pick the k3s build for this architecture", m, arch, want)
	}
	return nil
}

// headWriter keeps the first n bytes written through it.
type headWriter struct {
	n   int
	buf []byte
}

func (h *headWriter) Write(p []byte) (int, error) {
	if k := h.n - len(h.buf); k > 0 {
		h.buf = append(h.buf, p[:min(k, len(p))]...)
	}
	return len(p), nil
}

// notFound explains a 404 from a k3s release.
func notFound(url, version string) func() error {
	return func() error {
		return inputErrorf("%s: 404 Not Found; is %s a k3s release? (see https://github.com/k3s-io/k3s/releases)", url, version)
	}
}
