package suite_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/devices"
)

// TestChildFallsBackToSelf: a kprobe-probe of another build that does not
// know a probe (exit code 3) does not lose the probe: the running binary
// runs it.
func TestChildFallsBackToSelf(t *testing.T) {
	stale := filepath.Join(t.TempDir(), probes.ProbeChildName)
	if err := os.WriteFile(stale, []byte("#!/bin/sh\necho \"unknown probe $1\" >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &probes.ChildRunner{DataDir: t.TempDir(), Exe: stale}
	obs, err := r.RunActive(context.Background(), devices.MknodProbe{})
	if obs == nil {
		t.Fatalf("no observation from the fallback child: %v", err)
	}
	if len(obs.Facts) == 0 {
		t.Fatalf("the fallback child observed nothing: %+v, %v", obs, err)
	}
}

// TestProbeChildBinary runs an active probe through a real kprobe-probe
// build, as a scan from bin/kprobe does.
func TestProbeChildBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/kprobe-probe")
	}
	exe := filepath.Join(t.TempDir(), probes.ProbeChildName)
	build := exec.Command("go", "build", "-o", exe, "github.com/kprobe/kprobe/cmd/kprobe-probe")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := &probes.ChildRunner{DataDir: t.TempDir(), Exe: exe}
	obs, err := r.RunActive(context.Background(), devices.MknodProbe{})
	if obs == nil || len(obs.Facts) == 0 {
		t.Fatalf("kprobe-probe observed nothing: %+v, %v", obs, err)
	}
	// Run as a command of its own, it refuses with bad input.
	if err := exec.Command(exe).Run(); err == nil {
		t.Fatal("kprobe-probe without a re-exec name exited 0")
	}
}
