package identity_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/identity"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// TestLive checks the verdict on this machine: the host of the zoo is a
// Firecracker VM (kernel 6.18.44-fc-*, "firecracker-init" on the kernel
// command line, no DMI) whose image carries a misleading /.dockerenv.
func TestLive(t *testing.T) {
	probetest.RequireRoot(t)
	r := probetest.Live(t, identity.Probe{})
	b, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("live observation:\n%s", b)
	if r.Error != "" {
		t.Fatalf("probe error: %s", r.Error)
	}
	f := r.Facts
	for key, want := range map[string]string{
		"identity.sandbox": "vm", "identity.vm": "firecracker", "identity.ide": "none", "identity.confidence": "high",
	} {
		if got := f.String(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	markers := strings.Join(f.List("identity.markers"), "\n")
	for _, want := range []string{"hypervisor flag", "firecracker"} {
		if !strings.Contains(markers, want) {
			t.Errorf("markers lack %q:\n%s", want, markers)
		}
	}
	if strings.Contains(markers, "dockerenv") {
		t.Errorf("/.dockerenv counted as a deciding marker:\n%s", markers)
	}
	for _, fd := range r.Findings {
		if fd.Severity != probes.Info {
			t.Errorf("identity finding %s is %s, want info", fd.Code, fd.Severity)
		}
	}
	// The VM image has /.dockerenv: it must be reported as not trusted.
	if codes := obstest.Codes(r.Findings); !slices.Equal(codes, []string{"KP-ID-001", "KP-ID-002"}) {
		t.Errorf("findings %v, want [KP-ID-001 KP-ID-002]", codes)
	}
}
