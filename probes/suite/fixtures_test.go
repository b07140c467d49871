package suite_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/capture"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const sandboxDir = "../testdata/sandboxes"

// golden is what a replayed scan must reproduce: every result without its
// duration, and the ladder verdict.
type golden struct {
	Results []probes.Result  `json:"results"`
	Verdict profiles.Verdict `json:"verdict"`
}

// TestSandboxFixtures replays every captured sandbox through every probe
// and compares the outcome with its golden JSON.
func TestSandboxFixtures(t *testing.T) {
	ents, err := os.ReadDir(sandboxDir)
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
			dir := filepath.Join(sandboxDir, name)
			env, err := capture.ReplayEnv(dir, suite.All())
			if err != nil {
				t.Fatal(err)
			}
			s := probes.Run(context.Background(), env, suite.All(), probes.Options{})
			g := golden{Verdict: profiles.Judge(s.Facts)}
			for _, r := range s.Results {
				r.DurationMS = 0
				g.Results = append(g.Results, r)
			}
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
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
				t.Fatalf("%v (run go test ./probes/suite -run TestSandboxFixtures -update)", err)
			}
			if string(want) != string(got) {
				t.Errorf("replay of %s differs from %s; if the change is intended, rerun with -update and review the diff.\n%s",
					dir, path, diffLines(string(want), string(got)))
			}
		})
	}
	if n == 0 {
		t.Fatal("no captured sandboxes under " + sandboxDir)
	}
}

// diffLines shows the first lines that differ.
func diffLines(a, b string) string {
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
			out += "line " + itoa(i+1) + ":\n- " + x + "\n+ " + y + "\n"
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

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
