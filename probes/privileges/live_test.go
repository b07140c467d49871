package privileges_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/privileges"
	"github.com/kprobe/kprobe/probes/probetest"
)

// TestLive checks the probe on this machine: root in the initial user
// namespace of a Firecracker VM, every capability but CAP_SYS_RESOURCE,
// no seccomp, no LSM.
func TestLive(t *testing.T) {
	probetest.RequireRoot(t)
	r := probetest.Live(t, privileges.Probe{})
	b, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("live observation:\n%s", b)
	if r.Error != "" {
		t.Fatalf("probe error: %s", r.Error)
	}
	f := r.Facts
	if uid, _ := f.Int("priv.uid"); uid != 0 {
		t.Errorf("priv.uid = %d, want 0", uid)
	}
	if got := f.String("priv.uid_map"); got != "0 0 4294967295" {
		t.Errorf("priv.uid_map = %q", got)
	}
	for key, want := range map[string]probes.Tri{
		"priv.userns": probes.No, "priv.cap_sys_admin": probes.Yes, "priv.cap_net_admin": probes.Yes,
		"priv.cap_sys_resource": probes.No, "priv.no_new_privs": probes.No,
	} {
		if got := f.Tri(key); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if n, _ := f.Int("priv.cap_count"); n != 40 {
		t.Errorf("priv.cap_count = %d, want 40", n)
	}
	if caps := f.List("priv.caps"); slices.Contains(caps, "sys_resource") || !slices.Contains(caps, "sys_admin") {
		t.Errorf("priv.caps = %v", caps)
	}
	for key, want := range map[string]string{
		"priv.seccomp": "disabled", "priv.apparmor": "none", "priv.selinux": "disabled",
		"priv.cap_eff": "000001fffeffffff",
	} {
		if got := f.String(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if r.Status != probes.StatusWarn || len(r.Findings) != 1 || r.Findings[0].Code != privileges.CodeNoSysResource.Code {
		t.Errorf("status %s, findings %+v; want only %s", r.Status, r.Findings, privileges.CodeNoSysResource.Code)
	}
}
