// Package install puts the engines kprobe drives on the machine: the k3s
// binary, from a k3s GitHub release (checked against the release's
// sha256sum file) or from a local file.
package install

import (
	"bufio"
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
)

// DefaultBaseURL is where k3s releases are downloaded from:
// <base>/<version>/<asset>.
const DefaultBaseURL = "https://github.com/k3s-io/k3s/releases/download"

// ErrInput marks errors caused by the caller's choices (a version that is
// not a release, a file that does not match its checksum...), as opposed
// to failures of the machine or the network.
var ErrInput = errors.New("bad input")

// inputError is an error caused by the caller: errors.Is(err, ErrInput)
// holds, and its text is the message alone.
type inputError struct{ err error }

func (e inputError) Error() string        { return e.err.Error() }
func (e inputError) Unwrap() error        { return e.err }
func (e inputError) Is(target error) bool { return target == ErrInput }

func inputErrorf(format string, a ...any) error {
	return inputError{fmt.Errorf(format, a...)}
}

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
	return dest, download(ctx, o, dest)
}

// download fetches the sums file, then the binary, and installs the
// binary if its digest is the one the sums file lists.
func download(ctx context.Context, o InstallOptions, dest string) error {
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
	client := httpsOnly(o.Client, o.Insecure)
	sumsURL := sumsBase + "/" + o.Version + "/" + sumsName
	var sums bytes.Buffer
	if _, err := get(ctx, client, sumsURL, o.Version, &sums, nil); err != nil {
		return err
	}
	want, err := lookupSum(sums.Bytes(), binName)
	if err != nil {
		return fmt.Errorf("%s: %w", sumsURL, err)
	}

	binURL := base + "/" + o.Version + "/" + binName
	fmt.Fprintf(o.Progress, "downloading %s\n", binURL)
	return writeAtomic(dest, want, o.Arch, func(w io.Writer) error {
		p := &progress{out: o.Progress, label: "k3s " + o.Version}
		n, err := get(ctx, client, binURL, o.Version, w, p)
		if err != nil {
			return err
		}
		p.done(n)
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

func checkURL(what, s string, insecure bool) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, inputErrorf("%s %q is not an http(s) URL", what, s)
	case u.Scheme == "http" && !insecure:
		return nil, inputErrorf("%s %s is plain HTTP, which anyone on the path can alter: use https, or --insecure to accept that", what, s)
	}
	return u, nil
}

// httpsOnly returns a copy of client (default http.DefaultClient) that
// refuses redirects to plain HTTP unless insecure.
func httpsOnly(client *http.Client, insecure bool) *http.Client {
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	if insecure {
		return &c
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return inputErrorf("%s redirects to plain HTTP (%s): refused without --insecure", via[len(via)-1].URL, req.URL.Redacted())
		}
		if client.CheckRedirect != nil {
			return client.CheckRedirect(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
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
		data, err := os.ReadFile(o.SHA256File)
		if err != nil {
			return inputErrorf("read checksum file: %v", err)
		}
		binName, _, _ := Asset(o.Arch)
		want, err = lookupSum(data, binName, filepath.Base(o.From))
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

// get streams url into w and returns the byte count. A body shorter than
// its Content-Length is an error.
func get(ctx context.Context, client *http.Client, url, version string, w io.Writer, p *progress) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("download: %w", err) // a *url.Error, naming the URL
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return 0, inputErrorf("%s: 404 Not Found; is %s a k3s release? (see https://github.com/k3s-io/k3s/releases)", url, version)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("download %s: %s", url, resp.Status)
	}
	if p != nil {
		p.total = resp.ContentLength
		w = io.MultiWriter(w, p)
	}
	n, err := io.Copy(w, resp.Body)
	if errors.Is(err, io.ErrUnexpectedEOF) && resp.ContentLength >= 0 {
		return n, fmt.Errorf("download %s: truncated: got %d of %d bytes", url, n, resp.ContentLength)
	}
	if err != nil {
		return n, fmt.Errorf("download %s: %w after %d bytes", url, err, n)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("download %s: truncated: got %d of %d bytes", url, n, resp.ContentLength)
	}
	return n, nil
}

var hexDigest = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// lookupSum finds the digest of the first of names in a sha256sum-style
// file ("<hex>  <name>" or "<hex> *<name>" lines). A file holding a
// single bare digest (optionally followed by a name) is accepted only
// when it has one line.
func lookupSum(data []byte, names ...string) (string, error) {
	type line struct{ sum, name string }
	var lines []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if !hexDigest.MatchString(f[0]) {
			return "", fmt.Errorf("line %q is not a sha256 digest", sc.Text())
		}
		name := ""
		if len(f) > 1 {
			name = filepath.Base(strings.TrimPrefix(f[1], "*"))
		}
		lines = append(lines, line{strings.ToLower(f[0]), name})
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("no sha256 digest in the file")
	}
	for _, n := range names {
		for _, l := range lines {
			if l.name == n {
				return l.sum, nil
			}
		}
	}
	if len(lines) == 1 && lines[0].name == "" {
		return lines[0].sum, nil
	}
	return "", fmt.Errorf("no sha256 entry for %s", strings.Join(names, " or "))
}

// progress reports bytes downloaded: a line at every 10% of a known size,
// every 16 MiB of an unknown one, and one at the end.
type progress struct {
	out   io.Writer
	label string
	total int64
	n     int64
	next  int64
}

const unknownStep = 16 << 20

func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if p.next == 0 {
		p.next = p.step()
	}
	for p.n >= p.next && (p.total <= 0 || p.n < p.total) {
		p.line()
		p.next += p.step()
	}
	return len(b), nil
}

func (p *progress) step() int64 {
	if p.total > 0 {
		return max(p.total/10, 1)
	}
	return unknownStep
}

func (p *progress) line() {
	if p.total > 0 {
		fmt.Fprintf(p.out, "%s: %s of %s (%d%%)\n", p.label, mib(p.n), mib(p.total), p.n*100/p.total)
	} else {
		fmt.Fprintf(p.out, "%s: %s\n", p.label, mib(p.n))
	}
}

func (p *progress) done(n int64) {
	fmt.Fprintf(p.out, "%s: downloaded %d bytes (%s)\n", p.label, n, mib(n))
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
