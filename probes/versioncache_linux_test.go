package probes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
