package suite_test

import (
	"encoding/json"
	"flag"
	"path/filepath"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const sandboxDir = "../testdata/sandboxes"

// golden is what a replayed scan must reproduce: every result without its
// duration. The ladder verdict of each fixture is profiles' golden
// (profiles/fixtures_test.go): probes import nothing above them.
type golden struct {
	Results []probes.Result `json:"results"`
}

// TestSandboxFixtures replays every captured sandbox through every probe
// and compares the outcome with its golden JSON.
func TestSandboxFixtures(t *testing.T) {
	probetest.EachFixture(t, sandboxDir, func(t *testing.T, name string, s *probes.Scan) {
		var g golden
		for _, r := range s.Results {
			r.DurationMS = 0
			g.Results = append(g.Results, r)
		}
		got, err := json.MarshalIndent(g, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		probetest.Golden(t, filepath.Join("testdata", "golden", name+".json"), append(got, '\n'), *update,
			"rerun go test ./probes/suite -run TestSandboxFixtures -update")
	})
}
