package download

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Cache keeps verified downloads under Dir by their sha256, so a second
// install (or an install from a mirror of the same release) downloads
// nothing, and an interrupted download resumes from its .part file.
type Cache struct {
	Dir    string
	Client *http.Client
	// Progress receives progress lines; TTY redraws one line in place.
	Progress io.Writer
	TTY      bool
}

// DefaultCacheDir is $XDG_CACHE_HOME/kprobe, else ~/.cache/kprobe.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "kprobe"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache dir: set XDG_CACHE_HOME (%w)", err)
	}
	return filepath.Join(home, ".cache", "kprobe"), nil
}

// Fetch returns the path of a cached file whose sha256 is want,
// downloading url when it is not cached yet. A download that breaks off
// leaves <digest>.part behind; the next Fetch asks for the rest with a
// Range request (and starts over if the server ignores it). Nothing is
// returned whose digest is not want: a mismatch removes the file.
func (c *Cache) Fetch(ctx context.Context, url, want, label string) (string, error) {
	want = strings.ToLower(want)
	if !hexDigest.MatchString(want) {
		return "", fmt.Errorf("%s: %q is not a sha256 digest", label, want)
	}
	dir := filepath.Join(c.Dir, "sha256")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the download cache: %w", err)
	}
	final := filepath.Join(dir, want)
	if got, err := FileSHA256(final); err == nil {
		if got == want {
			fmt.Fprintf(c.out(), "%s: cached\n", label)
			return final, nil
		}
		os.Remove(final) // a cache entry damaged on disk
	}
	part := final + ".part"
	if err := c.download(ctx, url, part, label); err != nil {
		return "", err
	}
	got, err := FileSHA256(part)
	if err != nil {
		return "", err
	}
	if got != want {
		os.Remove(part)
		return "", fmt.Errorf("%s: sha256 %s does not match %s, the digest its project publishes; the download is corrupt or was tampered with, nothing was installed", url, got, want)
	}
	if err := os.Rename(part, final); err != nil {
		return "", err
	}
	return final, nil
}

func (c *Cache) out() io.Writer {
	if c.Progress == nil {
		return io.Discard
	}
	return c.Progress
}

// download appends the rest of url to part.
func (c *Cache) download(ctx context.Context, url, part, label string) error {
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	client := c.Client
	if client == nil {
		client = HTTPSOnly(nil, false)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0 && rangeStart(resp) == off:
		fmt.Fprintf(c.out(), "%s: resuming at %s\n", label, mib(off))
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// No resume: the server ignored the range, or the .part is
		// already longer than the file. Start over.
		if off > 0 {
			fmt.Fprintf(c.out(), "%s: the server does not resume; starting over\n", label)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			if err := f.Truncate(0); err != nil {
				return err
			}
			f.Close()
			return c.download(ctx, url, part, label)
		}
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		off = 0
	case resp.StatusCode == http.StatusNotFound:
		return InputErrorf("%s: 404 Not Found; is the version right, and does the mirror hold this file?", url)
	default:
		return fmt.Errorf("download %s: %s", url, resp.Status)
	}
	p := NewProgress(c.Progress, label, c.TTY)
	n, err := copyBody(url, resp, f, p, off)
	if err != nil {
		f.Sync()
		return fmt.Errorf("%w (%d bytes kept in %s: run the install again to resume)", err, off+n, part)
	}
	p.Done(n)
	return f.Sync()
}

// rangeStart is the first byte of a 206's Content-Range ("bytes a-b/n"),
// or -1.
func rangeStart(resp *http.Response) int64 {
	cr := resp.Header.Get("Content-Range")
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return -1
	}
	a, _, ok := strings.Cut(rest, "-")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return -1
	}
	return n
}
