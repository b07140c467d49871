package probetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/capture"
	"github.com/kprobe/kprobe/probes/suite"
)

// EachFixture replays every captured sandbox under dir (the fixture trees
// of probes/testdata/sandboxes) through the whole suite and calls fn in a
// subtest named after the sandbox. No fixture at all is a failure.
func EachFixture(t *testing.T, dir string, fn func(t *testing.T, name string, s *probes.Scan)) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		n++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			env, err := capture.ReplayEnv(filepath.Join(dir, name), suite.All())
			if err != nil {
				t.Fatal(err)
			}
			fn(t, name, probes.Run(context.Background(), env, suite.All(), probes.Options{}))
		})
	}
	if n == 0 {
		t.Fatal("no captured sandboxes under " + dir)
	}
}

// Golden compares got with the golden file at path, or rewrites the file
// when update is set. hint says how to regenerate it.
func Golden(t *testing.T, path string, got []byte, update bool, hint string) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s)", err, hint)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs; if the change is intended, %s and review the diff.\n%s", path, hint, DiffLines(string(want), string(got)))
	}
}

// DiffLines shows the first lines that differ between a and b.
func DiffLines(a, b string) string {
	al, bl := splitLines(a), splitLines(b)
	out := ""
	shown := 0
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out += "- " + x + "\n+ " + y + "\n"
			if shown++; shown == 10 {
				break
			}
		}
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
