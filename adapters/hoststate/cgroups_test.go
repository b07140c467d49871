package hoststate

import (
	"os"
	"path/filepath"
	"testing"
)

// Undo removes only a journaled root that is one of launch's nested roots:
// a journal edited by hand or a capture's path names nothing else.
func TestNestedRootOK(t *testing.T) {
	for root, want := range map[string]bool{
		"/docker/abc/kprobe-pods": true,
		"/zoo-1/kprobe-pods":      true,
		"/kprobe-pods":            false, // the host's top level is not below an own cgroup
		"/docker/abc":             false,
		"docker/kprobe-pods":      false,
		"/a/../kprobe-pods":       false,
		"/*/kprobe-pods":          false,
		"/a//kprobe-pods":         false,
		"":                        false,
	} {
		if got := nestedRootOK(root); got != want {
			t.Errorf("nestedRootOK(%q) = %v, want %v", root, got, want)
		}
	}
	if got := nestedCgroups([]string{"/", "/sys", "/x/../kprobe-pods"}); len(got) != 0 {
		t.Errorf("nestedCgroups of invalid roots = %q, want none", got)
	}
}

// MakeNestedCgroupRoot journals the root before it makes anything, and
// refuses a root Undo would not remove.
func TestMakeNestedCgroupRootJournals(t *testing.T) {
	var s Snapshot
	path := filepath.Join(t.TempDir(), "host-before.json")
	save := func() error { return s.Save(path) }
	if err := s.MakeNestedCgroupRoot("/kprobe-pods", save); err == nil {
		t.Fatal("a root at the top level was accepted")
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a refused root was journaled")
	}
	// A parent that exists in no hierarchy: journaled, then the mkdir fails.
	err := s.MakeNestedCgroupRoot("/kprobe-test-no-such-parent-7f3/kprobe-pods", save)
	if err == nil {
		t.Fatal("a root below a cgroup that does not exist was made")
	}
	got, lerr := Load(path)
	if lerr != nil || len(got.CgroupRoots) != 1 || got.CgroupRoots[0] != "/kprobe-test-no-such-parent-7f3/kprobe-pods" {
		t.Fatalf("journal after a failed make: %+v, %v", got, lerr)
	}
}
