package sysctls_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/sysctls"
)

func TestMain(m *testing.M) { probetest.Main(m) }

// snapshot reads every sysctl of the probes straight from /proc/sys.
func snapshot(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, n := range sysctls.Names {
		b, err := os.ReadFile("/" + sysctls.Path(n))
		if err != nil {
			t.Fatalf("%s: %v (the development VM has every one)", n, err)
		}
		m[n] = string(b)
	}
	return m
}

// The passive probe reports exactly what /proc/sys holds on the VM.
func TestLivePassive(t *testing.T) {
	probetest.RequireRoot(t)
	want := snapshot(t)
	r := probetest.Live(t, sysctls.Probe{})
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	for _, n := range sysctls.Names {
		if got := r.Facts.Tri("sysctl." + n + ".present"); got != probes.Yes {
			t.Errorf("%s.present = %v", n, got)
		}
		if got := r.Facts.String("sysctl." + n + ".value"); got != strings.TrimSpace(want[n]) {
			t.Errorf("%s.value = %q, /proc/sys has %q", n, got, want[n])
		}
	}
	// Debian's default of 128 inotify instances is below 512.
	inst, _ := strconv.Atoi(strings.TrimSpace(want["fs.inotify.max_user_instances"]))
	found := false
	for _, f := range r.Findings {
		if f.Code == sysctls.CodeInotifyLow.Code {
			found = true
		} else {
			t.Errorf("unexpected finding on the VM: %+v", f)
		}
	}
	if found != (inst < 512) {
		t.Errorf("KP-SYS-004 = %v with max_user_instances %d", found, inst)
	}
}

// As root on the VM every sysctl is writable (cap_last_cap is read-only
// by nature), and the probe changes none of them.
func TestLiveWrite(t *testing.T) {
	probetest.RequireRoot(t)
	before := snapshot(t)
	r := probetest.Live(t, sysctls.WriteProbe{})
	after := snapshot(t)
	for n, v := range before {
		if after[n] != v {
			t.Errorf("%s changed from %q to %q", n, v, after[n])
		}
	}
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	t.Logf("duration %.1f ms", r.DurationMS)
	for _, n := range sysctls.Names {
		want := sysctls.Writable
		if n == "kernel.cap_last_cap" {
			want = sysctls.Readonly
		}
		if got := r.Facts.String("sysctl." + n); got != want {
			t.Errorf("sysctl.%s = %q, want %q", n, got, want)
		}
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings on the VM: %+v", r.Findings)
	}
	for _, e := range r.Evidence {
		if strings.Contains(e.Excerpt, "afterwards") {
			t.Errorf("value moved during the write-back: %s", e)
		}
	}
}
