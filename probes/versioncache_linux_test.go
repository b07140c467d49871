package probes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestVersionCache runs a real program: its version is asked once while
// its file is unchanged, again after it changes; other commands always run.
func TestVersionCache(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	tool, runs := filepath.Join(dir, "tool"), filepath.Join(dir, "runs")
	write := func(version string) {
		script := "#!/bin/sh\necho run >> " + runs + "\necho tool " + version + "\n"
		if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "run")
	}
	ask := func(c *versionCache, args ...string) string {
		t.Helper()
		ctx := context.Background()
		r, err := c.cachedExec(ctx, func() (ExecResult, error) { return run(ctx, tool, args) }, tool, args)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(r.Stdout)
	}
	write("1.0")
	if got := ask(&versionCache{}, "--version"); got != "tool 1.0" {
		t.Fatalf("first query: %q", got)
	}
	// A fresh cache (another scan) reads the file the first one saved.
	if got := ask(&versionCache{}, "--version"); got != "tool 1.0" || count() != 1 {
		t.Fatalf("second query: %q after %d runs, want the cached answer after 1", got, count())
	}
	write("1.10")
	if got := ask(&versionCache{}, "--version"); got != "tool 1.10" || count() != 2 {
		t.Fatalf("after an upgrade: %q after %d runs", got, count())
	}
	ask(&versionCache{}, "--help")
	ask(&versionCache{}, "--help")
	if count() != 4 {
		t.Fatalf("a command that is not a version query ran %d times in all, want 4", count())
	}
}

// TestVersionRunsShared: in a shared probe child, two probes asking the
// same version share one run, also when the tool fails (not saved) and
// when they ask at once; elsewhere a failing tool runs each time.
func TestVersionRunsShared(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	tool, runs := filepath.Join(dir, "tool"), filepath.Join(dir, "runs")
	script := "#!/bin/sh\necho run >> " + runs + "\nsleep 0.2\necho 'tool: Failed to initialize' >&2\nexit 1\n"
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "run")
	}
	ask := func(c *versionCache) ExecResult {
		ctx := context.Background()
		r, err := c.cachedExec(ctx, func() (ExecResult, error) { return run(ctx, tool, []string{"--version"}) }, tool, []string{"--version"})
		if err != nil {
			t.Error(err)
		}
		return r
	}
	plain := &versionCache{}
	ask(plain)
	ask(plain)
	if count() != 2 {
		t.Fatalf("not shared: a failing tool ran %d times for 2 queries, want 2", count())
	}

	shared := &versionCache{share: true}
	var wg sync.WaitGroup
	got := make([]ExecResult, 3)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = ask(shared) }()
	}
	wg.Wait()
	last := ask(shared)
	if count() != 3 {
		t.Fatalf("shared: the tool ran %d times for 4 queries (3 at once), want once", count()-2)
	}
	for _, r := range append(got, last) {
		if r.ExitCode != 1 || !strings.Contains(r.Stderr, "Failed to initialize") {
			t.Errorf("a shared answer differs from the run's: %+v", r)
		}
	}
}
