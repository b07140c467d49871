//go:build linux

package probes

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// versionCache remembers the output of version queries (`tool --version`,
// `kubectl version --client`) by the executable's path, resolved path,
// size and modification time, so that a scan does not start a dozen
// programs each time: a tool's answer changes only when its file does.
// It lives in the user's cache directory; without one nothing is cached.
type versionCache struct {
	mu      sync.Mutex
	path    string // the cache file; "" when there is none
	loaded  bool
	entries map[string]ExecResult
	// share, set in a shared probe child (one scan's, short-lived), makes
	// its probes share this process's queries by key, finished or not
	// (runs): tools.versions and network.netns both ask iptables
	// --version, and the answer is shared even when it is not saved (a
	// failing tool: gVisor's iptables-nft exits 1), since it cannot
	// change within one scan.
	share bool
	runs  map[string]*versionRun
}

// versionRun is one query run by this process; done is closed when r and
// err are set.
type versionRun struct {
	done chan struct{}
	r    ExecResult
	err  error
	ok   bool // r and err may be shared: the run was not cut short
}

// maxVersionCache bounds the cache file read back (it is only ever a few
// kilobytes: one line per tool).
const maxVersionCache = 1 << 20

var liveVersions = &versionCache{}

// isVersionQuery reports whether args ask a program only for its version.
func isVersionQuery(args []string) bool {
	switch {
	case len(args) == 1 && args[0] == "--version":
		return true
	case len(args) >= 1 && args[0] == "version":
		return true
	}
	return false
}

// key identifies the executable's file: a replaced or upgraded binary
// (another size or mtime, or a symlink switched to another target) misses.
func (c *versionCache) key(name string, args []string) (string, bool) {
	if !filepath.IsAbs(name) || !isVersionQuery(args) {
		return "", false
	}
	resolved, err := filepath.EvalSymlinks(name)
	if err != nil {
		return "", false
	}
	fi, err := os.Stat(resolved)
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	k, _ := json.Marshal([]any{name, resolved, fi.Size(), fi.ModTime().UnixNano(), args})
	return string(k), true
}

func (c *versionCache) load() {
	if c.loaded {
		return
	}
	c.loaded = true
	c.entries = map[string]ExecResult{}
	dir, err := os.UserCacheDir()
	if err != nil {
		return
	}
	c.path = filepath.Join(dir, "kprobe", "versions.json")
	f, err := os.Open(c.path)
	if err != nil {
		return
	}
	defer f.Close()
	var entries map[string]ExecResult
	b, err := io.ReadAll(io.LimitReader(f, maxVersionCache+1))
	if err != nil || len(b) > maxVersionCache || json.Unmarshal(b, &entries) != nil {
		return // unreadable or foreign: start afresh, the next save replaces it
	}
	c.entries = entries
}

func (c *versionCache) get(key string) (ExecResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.load()
	r, ok := c.entries[key]
	return r, ok
}

// put records an answer and saves the cache atomically (write a
// temporary file, rename), so that concurrent scans never read half a
// file; the last writer wins.
func (c *versionCache) put(key string, r ExecResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.load()
	c.entries[key] = r
	if c.path == "" {
		return
	}
	b, err := json.Marshal(c.entries)
	if err != nil || len(b) > maxVersionCache {
		return
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".versions-*.json")
	if err != nil {
		return
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
}

// cachedExec answers a version query from the cache, else runs it and
// remembers a clean answer (exit 0, no error, finished in time).
func (c *versionCache) cachedExec(ctx context.Context, run func() (ExecResult, error), name string, args []string) (ExecResult, error) {
	key, ok := c.key(name, args)
	if !ok {
		return run()
	}
	if r, hit := c.get(key); hit {
		return r, nil
	}
	c.mu.Lock()
	if !c.share {
		c.mu.Unlock()
		return c.runAndSave(ctx, key, run)
	}
	if c.runs == nil {
		c.runs = map[string]*versionRun{}
	}
	if other, running := c.runs[key]; running {
		c.mu.Unlock()
		select {
		case <-other.done:
			if other.ok {
				return other.r, other.err
			}
		case <-ctx.Done():
		}
		return run() // the other run was cut short, or ours is: as without it
	}
	own := &versionRun{done: make(chan struct{})}
	c.runs[key] = own
	c.mu.Unlock()
	r, err := c.runAndSave(ctx, key, run)
	own.r, own.err, own.ok = r, err, ctx.Err() == nil
	if !own.ok {
		c.mu.Lock()
		delete(c.runs, key) // let a later query run again
		c.mu.Unlock()
	}
	close(own.done)
	return r, err
}

// runAndSave runs a query and saves a clean answer (exit 0, no error,
// finished in time).
func (c *versionCache) runAndSave(ctx context.Context, key string, run func() (ExecResult, error)) (ExecResult, error) {
	r, err := run()
	if err == nil && r.ExitCode == 0 && ctx.Err() == nil {
		c.put(key, r)
	}
	return r, err
}

// shareVersionRuns makes the probes of this process share their version
// queries (versionCache.share); a shared probe child calls it.
func shareVersionRuns() {
	liveVersions.mu.Lock()
	liveVersions.share = true
	liveVersions.mu.Unlock()
}
