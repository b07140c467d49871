package devices_test

import (
	"os"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/devices"
	"github.com/kprobe/kprobe/probes/probetest"
)

func TestMain(m *testing.M) { probetest.Main(m) }

// This machine, as root: /dev/kmsg readable, fuse, tun, kvm and
// loop-control present and openable.
func TestLiveDevices(t *testing.T) {
	probetest.RequireRoot(t)
	r := probetest.Live(t, devices.Probe{})
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	if got := r.Facts.String("dev.kmsg"); got != "readable" {
		t.Errorf("dev.kmsg = %q, want readable", got)
	}
	want := map[string]probes.Tri{"dev.kmsg_readable": probes.Yes, "dev.fuse": probes.Yes,
		"dev.net_tun": probes.Yes, "dev.loop_control": probes.Yes}
	if _, err := os.Stat("/dev/kvm"); err == nil {
		want["dev.kvm"] = probes.Yes
	}
	for k, w := range want {
		if got := r.Facts.Tri(k); got != w {
			t.Errorf("%s = %v, want %v", k, got, w)
		}
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings: %+v", r.Findings)
	}
}

// As root with CAP_MKNOD on ext4: both nodes can be made and the null
// device opens; nothing stays in the temp dir.
func TestLiveMknod(t *testing.T) {
	probetest.RequireRoot(t)
	before, _ := os.ReadDir(os.TempDir())
	r := probetest.Live(t, devices.MknodProbe{})
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	for k, w := range map[string]probes.Tri{"dev.mknod": probes.Yes, "dev.mknod_open": probes.Yes, "dev.mknod_whiteout": probes.Yes} {
		if got := r.Facts.Tri(k); got != w {
			t.Errorf("%s = %v, want %v", k, got, w)
		}
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings: %+v", r.Findings)
	}
	after, _ := os.ReadDir(os.TempDir())
	names := map[string]bool{}
	for _, e := range before {
		names[e.Name()] = true
	}
	for _, e := range after {
		if !names[e.Name()] && strings.HasPrefix(e.Name(), "kprobe-devices.mknod-") {
			t.Errorf("temp dir left behind: %s", e.Name())
		}
	}
}
