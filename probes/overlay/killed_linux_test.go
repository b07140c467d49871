//go:build linux

package overlay_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/overlay"
	"github.com/kprobe/kprobe/probes/probetest"
)

// TestKilledChildLeavesNoScratch kills the probe child at its time limit
// once its scratch dir beside the data dir exists, as the scan does when
// a probe overruns: no .kprobe-overlay-PID-* of that child may remain.
func TestKilledChildLeavesNoScratch(t *testing.T) {
	probetest.RequireRoot(t)
	parent := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	found := make(chan string, 1)
	go func() {
		defer cancel()
		for ctx.Err() == nil {
			if m, _ := filepath.Glob(filepath.Join(parent, ".kprobe-overlay-*")); len(m) > 0 {
				found <- filepath.Base(m[0])
				return // cancel: the child's time limit is up
			}
			time.Sleep(time.Millisecond)
		}
	}()
	runner := &probes.ChildRunner{DataDir: filepath.Join(parent, "data")}
	_, err := runner.RunActive(ctx, overlay.Probe{})
	t.Logf("RunActive: %v", err)
	var name string
	select {
	case name = <-found:
	default:
		t.Fatal("no scratch dir was seen before the probe ended")
	}
	// .kprobe-overlay-PID-RANDOM
	f := strings.Split(name, "-")
	if len(f) < 4 {
		t.Fatalf("scratch dir %q is not named after the child's PID", name)
	}
	left, _ := filepath.Glob(filepath.Join(parent, ".kprobe-overlay-"+f[2]+"-*"))
	if len(left) > 0 {
		t.Errorf("scratch dirs of child %s left behind: %q", f[2], left)
	}
	if ents, _ := os.ReadDir(parent); len(ents) > 0 {
		t.Logf("in %s after the probe: %v", parent, ents)
	}
}
