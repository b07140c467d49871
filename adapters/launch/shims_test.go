package launch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/probes/procfs"
)

func TestSplitShims(t *testing.T) {
	plan := &adapters.Plan{Shims: []adapters.Shim{
		{Name: adapters.ShimKmsg}, {Name: adapters.ShimTmpfsDataDir}, {Name: adapters.ShimRuntimeWrapper},
		{Name: adapters.ShimRshared}, {Name: adapters.ShimCgroupEvacuate}, {Name: adapters.ShimFakeSysctls},
	}}
	host, ns := splitShims(plan)
	if !slices.Equal(host, []string{"tmpfs-datadir", "cgroup-evacuate"}) {
		t.Errorf("host shims %v", host)
	}
	if !slices.Equal(ns, []string{"kmsg", "rshared", "fake-sysctls"}) {
		t.Errorf("namespace shims %v", ns)
	}
}

// TestHostShimsRoundTrip applies the tmpfs-datadir shim for real, as
// launch does, and undoes it from its journal, as stop does.
func TestHostShimsRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts a tmpfs: run as root")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	mounted := func() bool {
		ms, err := procfs.ParseMountinfo(bytes.NewReader(mustRead(t, "/proc/self/mountinfo")))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Mountpoint == dataDir && m.FSType == "tmpfs" {
				return true
			}
		}
		return false
	}
	out, err := applyHostShims(context.Background(), dataDir, []string{"tmpfs-datadir"})
	if err != nil || len(out) != 1 || !out[0].Applied || out[0].Error != "" {
		t.Fatalf("apply: %v %+v", err, out)
	}
	t.Cleanup(func() { _ = undoShims(context.Background(), hostJournal(dataDir), func(string, ...any) {}) })
	if !mounted() {
		t.Fatal("no tmpfs on the data dir after the shim")
	}
	var said []string
	if err := undoShims(context.Background(), hostJournal(dataDir), func(f string, a ...any) { said = append(said, fmt.Sprintf(f, a...)) }); err != nil {
		t.Fatal(err)
	}
	if mounted() {
		t.Error("the tmpfs is still mounted after undo")
	}
	if len(said) != 1 || !strings.Contains(said[0], "undid shim") {
		t.Errorf("undo said %q", said)
	}
	if _, err := os.Stat(hostJournal(dataDir)); !os.IsNotExist(err) {
		t.Errorf("the journal is still there: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
