package suite_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/test/hostcheck"
)

// TestScanLeavesNothingBehind runs the full suite, active probes
// included, and compares the host before and after: mounts, cgroups,
// network namespaces and links, iptables rules, sysctls, temp files (the
// scan's TMPDIR is private to the test), /var/lib (where the overlay probe
// tries the data dir's filesystem) and processes.
func TestScanLeavesNothingBehind(t *testing.T) {
	s := scanComparingHost(t, probes.Options{})
	for _, r := range s.Results {
		if r.Mode == probes.Active && r.Error != "" {
			t.Errorf("active probe %s could not observe as root on this host: %s", r.ID, r.Error)
		}
	}
}

// TestScanAtItsTimeLimitLeavesNothingBehind: probes given up at a time
// limit shorter than they need (`kprobe scan --timeout 20ms`; 100 ms no
// longer cut any on this host once the scan got faster) return at once,
// but the scan still waits for their children to be killed and swept
// before it ends; before it did, a scan left each active probe's
// temp dir and the cgroups of the cgroups and container probes.
func TestScanAtItsTimeLimitLeavesNothingBehind(t *testing.T) {
	s := scanComparingHost(t, probes.Options{Timeout: 20 * time.Millisecond})
	var given []string
	for _, r := range s.Results {
		if strings.Contains(r.Error, "did not finish within") {
			given = append(given, r.ID)
		}
	}
	if len(given) == 0 {
		t.Fatal("no probe was given up at 20ms: the test did not cut one short")
	}
	t.Logf("given up at the limit: %s", strings.Join(given, ", "))
}

// scanComparingHost runs the full suite as root with opts and fails the
// test when the host differs afterwards.
func scanComparingHost(t *testing.T, opts probes.Options) *probes.Scan {
	t.Helper()
	probetest.RequireRoot(t)
	if testing.Short() {
		t.Skip("live scan")
	}
	t.Setenv("TMPDIR", t.TempDir())
	exe, _ := os.Executable()
	o := hostcheck.Options{Dirs: []string{os.TempDir(), "/var/lib"}, Exe: exe}
	before := hostcheck.Take(o)
	s := probes.Run(context.Background(), probes.LiveEnv(""), suite.All(), opts)
	if d := hostcheck.Diff(before, hostcheck.Take(o)); d != "" {
		t.Fatalf("the scan left things behind:\n%s", d)
	}
	return s
}

// TestThisMachine checks that kprobe tells the truth about the kind of
// machine the project develops and tests on: a Firecracker VM, root,
// cgroup v1 hybrid and writable, ext4 root, /dev/kmsg readable, overlay
// mountable, containers start. (That it reaches T0 is profiles'
// TestThisMachineReachesT0.)
func TestThisMachine(t *testing.T) {
	probetest.RequireRoot(t)
	cmdline, _ := os.ReadFile("/proc/cmdline")
	if !strings.Contains(string(cmdline), "firecracker-init") {
		t.Skip("not the project's Firecracker machine")
	}
	s := probes.Run(context.Background(), probes.LiveEnv(t.TempDir()), suite.All(), probes.Options{})
	f := s.Facts
	want := map[string]any{
		"identity.sandbox":      "vm",
		"identity.vm":           "firecracker",
		"priv.uid":              int64(0),
		"priv.userns":           probes.No,
		"priv.cap_sys_resource": probes.No,
		"cgroups.layout":        "hybrid",
		"cgroups.writable":      probes.Yes,
		"fs.root.type":          "ext4",
		"dev.kmsg_readable":     probes.Yes,
		"overlay.mount_tmpfs":   probes.Yes,
		"overlay.mount_datadir": probes.Yes,
		"container.full":        probes.Yes,
		"ns.user":               probes.Yes,
		"net.veth":              probes.Yes,
	}
	for k, v := range want {
		if got, ok := f[k]; !ok || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
}

func benchmarkScan(b *testing.B, passive bool) {
	if os.Geteuid() != 0 && !passive {
		b.Skip("needs root")
	}
	env := probes.LiveEnv(b.TempDir())
	all := suite.All()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		probes.Run(context.Background(), env, all, probes.Options{Passive: passive})
	}
}

// BenchmarkScanPassive measures a scan without active probes.
func BenchmarkScanPassive(b *testing.B) { benchmarkScan(b, true) }

// BenchmarkScanFull measures a scan with every active probe.
func BenchmarkScanFull(b *testing.B) { benchmarkScan(b, false) }
