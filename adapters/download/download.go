// Package download fetches release artifacts the way kprobe's installers
// need them: HTTPS only (redirects included), through HTTPS_PROXY /
// NO_PROXY (credentials in the proxy URL are sent on CONNECT), trusting
// the system roots plus an optional CA bundle, resumable into a .part
// file with HTTP Range, and checked against the sha256 the artifact's
// project publishes before anything uses it.
package download

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/net/http/httpproxy"

	"github.com/kprobe/kprobe/probes/bounded"
)

// ErrInput marks errors caused by the caller's choices (a URL that is not
// HTTPS, a version that is not a release, a CA file that holds no
// certificate...), as opposed to failures of the machine or the network.
var ErrInput = errors.New("bad input")

// inputError is an error caused by the caller: errors.Is(err, ErrInput)
// holds, and its text is the message alone.
type inputError struct{ err error }

func (e inputError) Error() string        { return e.err.Error() }
func (e inputError) Unwrap() error        { return e.err }
func (e inputError) Is(target error) bool { return target == ErrInput }

// InputErrorf builds an error that errors.Is(err, ErrInput).
func InputErrorf(format string, a ...any) error {
	return inputError{fmt.Errorf(format, a...)}
}

// ClientOptions configure NewClient.
type ClientOptions struct {
	// CAFile is a PEM bundle trusted in addition to the system roots
	// (which already include $SSL_CERT_FILE / $SSL_CERT_DIR).
	CAFile string
	// Insecure allows redirects to plain HTTP.
	Insecure bool
}

// NewClient returns a client that takes its proxy from HTTPS_PROXY /
// HTTP_PROXY / NO_PROXY at each request (not once per process, as
// http.ProxyFromEnvironment does), trusts the system roots and
// o.CAFile, and refuses redirects to plain HTTP unless o.Insecure.
func NewClient(o ClientOptions) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = func(r *http.Request) (*url.URL, error) {
		return httpproxy.FromEnvironment().ProxyFunc()(r.URL)
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, InputErrorf("CA file: %v", err)
		}
		cfg, err := TLSConfig(pem)
		if err != nil {
			return nil, InputErrorf("CA file %s holds no PEM certificate", o.CAFile)
		}
		tr.TLSClientConfig = cfg
	}
	return HTTPSOnly(&http.Client{Transport: tr}, o.Insecure), nil
}

// TLSConfig trusts the system roots (with $SSL_CERT_FILE / $SSL_CERT_DIR)
// plus the PEM certificates in extraCAs, the CA of a private mirror or
// registry, or of a TLS-intercepting proxy. extraCAs that hold no
// certificate are an error.
func TLSConfig(extraCAs []byte) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(extraCAs) {
		return nil, errors.New("the CA bundle holds no PEM certificate")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// HTTPSOnly returns a copy of client (default http.DefaultClient) that
// refuses redirects to plain HTTP unless insecure.
func HTTPSOnly(client *http.Client, insecure bool) *http.Client {
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	if insecure {
		return &c
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return InputErrorf("%s redirects to plain HTTP (%s): refused without --insecure", via[len(via)-1].URL, req.URL.Redacted())
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

// CheckURL parses s and refuses what is not http(s), and plain HTTP
// unless insecure; what names the URL in the error.
func CheckURL(what, s string, insecure bool) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, InputErrorf("%s %q is not an http(s) URL", what, s)
	case u.Scheme == "http" && !insecure:
		return nil, InputErrorf("%s %s is plain HTTP, which anyone on the path can alter: use https", what, s)
	}
	return u, nil
}

// Get streams url into w and returns the byte count. A body shorter than
// its Content-Length is an error; notFound, when set, builds the error
// for a 404 (the caller knows what a missing file means).
func Get(ctx context.Context, client *http.Client, url string, w io.Writer, p *Progress, notFound func() error) (int64, error) {
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
	case resp.StatusCode == http.StatusNotFound && notFound != nil:
		return 0, notFound()
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("download %s: %s", url, resp.Status)
	}
	return copyBody(url, resp, w, p, 0)
}

// copyBody copies resp's body (which continues at offset off) into w.
func copyBody(url string, resp *http.Response, w io.Writer, p *Progress, off int64) (int64, error) {
	if p != nil {
		p.n = off
		if resp.ContentLength >= 0 {
			p.total = off + resp.ContentLength
		}
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

// maxSumsFile bounds a checksum file: they list a few dozen assets.
const maxSumsFile = 1 << 20

// ReadSumsFile reads a checksum file the user named (`--sha256-file`, a
// bundle's .sha256): a regular file of at most 1 MiB, so /dev/zero, a FIFO
// or an 8 GiB sparse file is an error rather than an out-of-memory.
func ReadSumsFile(path string) ([]byte, error) {
	return bounded.ReadFile(path, maxSumsFile)
}

// Sums downloads a checksum file (bounded) and returns its bytes.
func Sums(ctx context.Context, client *http.Client, url string, notFound func() error) ([]byte, error) {
	var b limitedBuffer
	b.max = maxSumsFile
	if _, err := Get(ctx, client, url, &b, nil, notFound); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, fmt.Errorf("larger than %d bytes: not a checksum file", b.max)
	}
	return b.Buffer.Write(p)
}

var hexDigest = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// Sum is one line of a sha256sum-style file: the digest (lower case) and
// the name as written, without sha256sum's binary-mode "*" ("" after a
// bare digest).
type Sum struct{ Digest, Name string }

// ParseSums reads a sha256sum-style file: "<hex>  <name>", "<hex> *<name>"
// or a bare "<hex>" per line; blank lines and # comments are skipped. A
// line that does not start with a sha256 digest is an error (an HTML page
// served in place of the file, say).
func ParseSums(data []byte) ([]Sum, error) {
	var sums []Sum
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if !hexDigest.MatchString(f[0]) {
			return nil, fmt.Errorf("line %q is not a sha256 digest", sc.Text())
		}
		name := ""
		if len(f) > 1 {
			name = strings.TrimPrefix(f[1], "*")
		}
		sums = append(sums, Sum{strings.ToLower(f[0]), name})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(sums) == 0 {
		return nil, fmt.Errorf("no sha256 digest in the file")
	}
	return sums, nil
}

// LookupSum finds the digest of the first of names in a sha256sum-style
// file (ParseSums; entries match by base name). A file holding a single
// bare digest (optionally followed by a name) is accepted only when it
// has one line: the form of dl.k8s.io's <binary>.sha256.
func LookupSum(data []byte, names ...string) (string, error) {
	sums, err := ParseSums(data)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		for _, s := range sums {
			if s.Name != "" && filepath.Base(s.Name) == n {
				return s.Digest, nil
			}
		}
	}
	if len(sums) == 1 && sums[0].Name == "" {
		return sums[0].Digest, nil
	}
	return "", fmt.Errorf("no sha256 entry for %s", strings.Join(names, " or "))
}

// FileSHA256 is the hex sha256 of a file's content.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
