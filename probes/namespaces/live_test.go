package namespaces_test

import (
	"os"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/namespaces"
	"github.com/kprobe/kprobe/probes/probetest"
)

func TestMain(m *testing.M) { probetest.Main(m) }

// TestLive runs the probe as the scan does, as root on the development
// VM: every namespace can be created with and without a user namespace,
// and tmpfs, proc, sysfs and cgroup2 mount in both.
func TestLive(t *testing.T) {
	probetest.RequireRoot(t)
	before, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	r := probetest.Live(t, namespaces.Probe{})
	after, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Errorf("mount table changed:\n%s\n---\n%s", before, after)
	}
	if r.Error != "" {
		t.Fatalf("probe error: %s", r.Error)
	}
	t.Logf("duration %.1f ms", r.DurationMS)
	for _, spec := range (namespaces.Probe{}).Facts() {
		got := r.Facts.Tri(spec.Key)
		if got != probes.Yes {
			t.Errorf("%s = %v, want yes", spec.Key, got)
		}
	}
	for _, e := range r.Evidence {
		t.Logf("%s", e)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings on the root host: %+v", r.Findings)
	}
	if r.Status != probes.StatusOK {
		t.Errorf("status %s", r.Status)
	}
}
