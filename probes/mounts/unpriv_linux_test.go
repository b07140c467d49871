//go:build linux

package mounts_test

import (
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/mounts"
	"github.com/kprobe/kprobe/probes/probetest"
)

const nobody = 65534

// TestUnprivileged runs mounts.rshared as uid 65534: the runner cannot give
// the child a mount namespace (EPERM), so / must stay untouched, rbind is
// refused in the sandbox's namespace and works in a new user namespace.
func TestUnprivileged(t *testing.T) {
	before := findmnt(t)
	r := probetest.RunAs(t, nobody, mounts.RShared{}, "")
	for k, want := range map[string]probes.Tri{
		"mount.rshared_possible": probes.Unknown, // not tried: no namespace of our own
		"mount.rbind":            probes.No,
		"mount.userns_rshared":   probes.Yes,
		"mount.userns_rbind":     probes.Yes,
	} {
		if got := r.Facts.Tri(k); got != want {
			t.Errorf("%s = %v, want %s", k, got, want)
		}
	}
	if want := "rshared / not tried, rbind refused; in a user namespace rshared / and rbind ok"; r.Summary != want {
		t.Errorf("summary %q, want %q", r.Summary, want)
	}
	if len(r.Findings) != 1 || r.Findings[0].Code != mounts.CodeRBindUserns.Code {
		t.Errorf("findings %+v, want KP-MNT-004", r.Findings)
	}
	if after := findmnt(t); after != before {
		t.Errorf("propagation of / changed: %s -> %s", before, after)
	}
	for _, ev := range r.Evidence {
		t.Logf("evidence: %s", ev)
	}
}
