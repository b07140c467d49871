package profiles_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
)

// TestMain lets the live scan below run active probes (re-exec'd children).
func TestMain(m *testing.M) { probetest.Main(m) }

var update = flag.Bool("update", false, "rewrite the golden files")

// TestSandboxVerdicts replays every captured sandbox (the fixtures of
// probes/suite) and compares its ladder verdict with its golden JSON.
func TestSandboxVerdicts(t *testing.T) {
	probetest.EachFixture(t, "../probes/testdata/sandboxes", func(t *testing.T, name string, s *probes.Scan) {
		got, err := json.MarshalIndent(profiles.Judge(s.Facts), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		probetest.Golden(t, filepath.Join("testdata", "verdicts", name+".json"), append(got, '\n'), *update,
			"rerun go test ./profiles -run TestSandboxVerdicts -update")
	})
}

// TestThisMachineReachesT0: the project's Firecracker VM (root, cgroup v1
// hybrid and writable, overlay mountable, containers start) runs the full
// rung.
func TestThisMachineReachesT0(t *testing.T) {
	probetest.RequireRoot(t)
	if testing.Short() {
		t.Skip("live scan")
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	if !strings.Contains(string(cmdline), "firecracker-init") {
		t.Skip("not the project's Firecracker machine")
	}
	s := probes.Run(context.Background(), probes.LiveEnv(t.TempDir()), suite.All(), probes.Options{})
	if v := profiles.Judge(s.Facts); v.Rung != profiles.T0 {
		t.Errorf("this host should reach T0, verdict %s: %+v", v.Rung, v.Checks[0].Blockers)
	}
}
