package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/capture"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
)

// noVxlanProfile is the profile of the runc-privileged sandbox captured
// by kprobe capture (T0), on a host whose kernel has no vxlan module
// (net.vxlan=no): its verdict for every engine is T1, for the kubernetes
// engine, which runs no flannel, still T0.
func noVxlanProfile(t *testing.T) (*profiles.Profile, string) {
	t.Helper()
	env, err := capture.ReplayEnv("../../../probes/testdata/sandboxes/runc-privileged", suite.All())
	if err != nil {
		t.Fatal(err)
	}
	s := probes.Run(context.Background(), env, suite.All(), probes.Options{})
	s.Facts["net.vxlan"] = probes.No
	p := profiles.FromScan(s, "test", time.Now())
	if p.Verdict.Rung != profiles.T1 || profiles.JudgeFor(s.Facts, adapters.EngineKubernetes).Rung != profiles.T0 {
		t.Fatalf("the fixture without vxlan: verdict %s, for kubernetes %s; want T1 and T0", p.Verdict.Rung, profiles.JudgeFor(s.Facts, adapters.EngineKubernetes).Rung)
	}
	path := filepath.Join(t.TempDir(), "no-vxlan.toml")
	if err := profiles.Save(path, p, probes.SchemaOf(suite.All())); err != nil {
		t.Fatal(err)
	}
	return p, path
}

// TestRungCheckedPerEngine (issue #16): --rung is checked against the
// verdict of the engine that runs, by plan and launch alike
// (rungReachable). Without vxlan links, T0 is refused for k3s (flannel's
// vxlan) and planned for the kubernetes engine, which needs none.
func TestRungCheckedPerEngine(t *testing.T) {
	p, path := noVxlanProfile(t)
	if err := rungReachable(p, profiles.T0, adapters.EngineKubernetes, ""); err != nil {
		t.Errorf("T0 for the kubernetes engine: %v", err)
	}
	err := rungReachable(p, profiles.T0, adapters.EngineK3s, "why")
	if err == nil || !strings.Contains(err.Error(), "above the verdict T1 for the k3s engine") || !strings.Contains(err.Error(), "add --engine kubernetes") {
		t.Errorf("T0 for k3s: %v, want it refused, naming the kubernetes engine", err)
	}
	if err := rungReachable(p, profiles.T1, adapters.EngineK3s, ""); err != nil {
		t.Errorf("T1 for k3s: %v", err)
	}

	code, out, errOut := runKprobe("plan", "--profile", path, "--engine", "kubernetes", "--rung", "T0", "--data-dir", "/var/lib/kprobe")
	if code != ExitOK || !strings.Contains(out, "rung      T0") {
		t.Errorf("plan --rung T0 --engine kubernetes: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runKprobe("plan", "--profile", path, "--engine", "k3s", "--rung", "T0", "--data-dir", "/var/lib/kprobe")
	if code != ExitBadInput || !strings.Contains(errOut, "--rung T0 is above the verdict T1 for the k3s engine") {
		t.Errorf("plan --rung T0 --engine k3s: exit %d, want 3 and the k3s verdict\n%s", code, errOut)
	}

	t.Run("launch", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("launch at T0 stops first for a user other than root (TestLaunchAsNonRootStopsFirst)")
		}
		// No engine is installed where launch looks: the bin dirs below,
		// this test binary's directory and XDG_DATA_HOME.
		t.Setenv("XDG_DATA_HOME", t.TempDir())
		data := filepath.Join(t.TempDir(), "data")
		// A file named k3s that is not a program (an ELF header only):
		// launch must refuse the rung before it runs anything.
		k3sDir := t.TempDir()
		if err := os.WriteFile(filepath.Join(k3sDir, "k3s"), fakeK3s(), 0o755); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runKprobe("launch", "--profile", path, "--engine", "k3s", "--bin-dir", k3sDir, "--rung", "T0", "--data-dir", data, "--no-tui")
		if code != ExitBadInput || !strings.Contains(errOut, "--rung T0 is above the verdict T1 for the k3s engine") {
			t.Errorf("launch --rung T0 --engine k3s: exit %d, want 3 and the k3s verdict\n%s", code, errOut)
		}
		// The kubernetes engine is not refused the rung: launch goes on
		// to look for its binaries, which are not there.
		code, _, errOut = runKprobe("launch", "--profile", path, "--engine", "kubernetes", "--bin-dir", t.TempDir(), "--rung", "T0", "--data-dir", data, "--no-tui")
		if code == ExitOK || strings.Contains(errOut, "above the verdict") || !strings.Contains(errOut, "kube-apiserver") {
			t.Errorf("launch --rung T0 --engine kubernetes: exit %d, want the missing binaries named, not the rung refused\n%s", code, errOut)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("the data dir was created: %v", err)
		}
	})
}
