package procfs

import (
	"strings"
	"testing"

	"github.com/moby/sys/capability"
)

func TestParseCapEff(t *testing.T) {
	// The project's host as root: every capability but CAP_SYS_RESOURCE
	// (bit 24) and above 40.
	host := "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n"
	m, found, err := ParseCapEff(strings.NewReader(host))
	if err != nil || !found || m != 0x1fffeffffff {
		t.Fatalf("got %x %v %v", m, found, err)
	}
	if !HasCap(m, capability.CAP_NET_ADMIN) || HasCap(m, capability.CAP_SYS_RESOURCE) {
		t.Errorf("%x: want CAP_NET_ADMIN and no CAP_SYS_RESOURCE", m)
	}
	if m, _, _ := ParseCapEff(strings.NewReader("CapEff:\t0000003fffffffff\n")); !HasCap(m, capability.CAP_SYS_RESOURCE) {
		t.Error("3fffffffff has CAP_SYS_RESOURCE")
	}
	// podman's 11 default caps: no CAP_NET_ADMIN.
	if m, _, _ := ParseCapEff(strings.NewReader("CapEff:\t00000000800405fb\n")); HasCap(m, capability.CAP_NET_ADMIN) {
		t.Error("podman CapEff has CAP_NET_ADMIN")
	}
	if _, found, _ := ParseCapEff(strings.NewReader("Name:\tx\n")); found {
		t.Error("found CapEff in a status without one")
	}
	if _, _, err := ParseCapEff(strings.NewReader("CapEff:\tzz\n")); err == nil {
		t.Error("no error for a bad CapEff")
	}
	if HasCap(^uint64(0), capability.Cap(64)) || HasCap(^uint64(0), capability.Cap(-1)) {
		t.Error("HasCap accepted a capability outside the mask")
	}
}

func FuzzParseCapEff(f *testing.F) {
	f.Add("CapEff:\t000001fffeffffff\n")
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = ParseCapEff(strings.NewReader(s))
	})
}
