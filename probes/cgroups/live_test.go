package cgroups_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/cgroups"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

func TestMain(m *testing.M) { probetest.Main(m) }

// leftovers lists every cgroup the write probe may have left behind.
func leftovers(t *testing.T) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), "kprobe") {
			out = append(out, p)
			return fs.SkipDir
		}
		return nil
	})
	return out
}

// This machine: hybrid cgroups, v1 controllers under /sys/fs/cgroup/*,
// cgroup2 at /sys/fs/cgroup/unified with only hugetlb, the initial cgroup
// namespace.
func TestLiveHybrid(t *testing.T) {
	probetest.RequireRoot(t)
	r := probetest.Live(t, cgroups.Probe{})
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	f := r.Facts
	if got := f.String("cgroups.layout"); got != "hybrid" {
		t.Errorf("layout = %q, want hybrid", got)
	}
	if got := f.String("cgroups.v2_mount"); got != "/sys/fs/cgroup/unified" {
		t.Errorf("v2_mount = %q", got)
	}
	if got := f.List("cgroups.controllers"); !slices.Equal(got, []string{"cpu", "cpuset", "devices", "freezer", "memory", "pids"}) {
		t.Errorf("controllers = %q", got)
	}
	if got := f.List("cgroups.v2_controllers"); !slices.Equal(got, []string{"hugetlb"}) {
		t.Errorf("v2_controllers = %q", got)
	}
	for k, want := range map[string]probes.Tri{
		"cgroups.namespace": probes.No, "cgroups.cgroup2_fs": probes.Yes,
		"cgroups.read_only": probes.No, "cgroups.v2_delegated": probes.No,
	} {
		if got := f.Tri(k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if got := obstest.Codes(r.Findings); !slices.Equal(got, []string{"KP-CG-002", "KP-CG-007"}) {
		t.Errorf("codes = %v, want KP-CG-002 (v1) and KP-CG-007 (hugetlb on v2)", got)
	}
}

func TestLiveWrite(t *testing.T) {
	probetest.RequireRoot(t)
	before, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.subtree_control")
	if err != nil {
		t.Fatal(err)
	}
	if l := leftovers(t); len(l) > 0 {
		t.Fatalf("kprobe cgroups exist before the test: %v", l)
	}

	r := probetest.Live(t, cgroups.WriteProbe{})

	// Nothing may be left behind, whatever the probe said.
	if l := leftovers(t); len(l) > 0 {
		t.Errorf("probe left cgroups behind: %v", l)
	}
	after, _ := os.ReadFile("/sys/fs/cgroup/unified/cgroup.subtree_control")
	if string(before) != string(after) {
		t.Errorf("subtree_control changed: %q -> %q", before, after)
	}

	if r.Error != "" {
		t.Fatal(r.Error)
	}
	for k, want := range map[string]probes.Tri{
		"cgroups.writable": probes.Yes, "cgroups.v1_writable": probes.Yes, "cgroups.v2_writable": probes.Yes,
		"cgroups.join": probes.Yes, "cgroups.subtree_control_writable": probes.Yes,
		// Our cgroup2 cgroup is the real root, exempt from the
		// no-internal-process rule.
		"cgroups.needs_evacuation": probes.No,
	} {
		if got := r.Facts.Tri(k); got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings on a writable host: %+v", r.Findings)
	}
	var ev []string
	for _, e := range r.Evidence {
		ev = append(ev, e.String())
	}
	t.Logf("evidence:\n%s", strings.Join(ev, "\n"))
}

// simEnv selects the assertions of TestSimulatedInner, which runs in a
// copy of the test binary started inside a prepared namespace.
const simEnv = "KPROBE_CGROUPS_SIM"

// runSimulated runs TestSimulatedInner under "sh -c script", where script
// ends by exec'ing "$0" (the test binary) with the inner test selected.
func runSimulated(t *testing.T, mode, script string) {
	t.Helper()
	for _, tool := range []string{"sh", "unshare", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found", tool)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", script, self, "-test.run=^TestSimulatedInner$", "-test.v")
	cmd.Env = append(os.Environ(), simEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("simulated %s sandbox: %v\n%s", mode, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestSimulatedInner") {
		t.Fatalf("inner test did not run:\n%s", out)
	}
	t.Logf("%s", out)
}

// Docker-like: every cgroup mount bind-remounted read-only, in a private
// cgroup namespace. Every mkdir gives EROFS, as in runc-docker and podman.
func TestSimulatedReadOnly(t *testing.T) {
	probetest.RequireRoot(t)
	runSimulated(t, "ro", `exec unshare -m --cgroup --propagation private sh -c '
		for m in $(awk "\$9==\"cgroup\"||\$9==\"cgroup2\"{print \$5}" /proc/self/mountinfo); do
			mount -o remount,bind,ro "$m" || exit 1
		done
		exec "$0" "$@"' "$0" "$@"`)
	if l := leftovers(t); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}

// Docker on a cgroup2 host: the process sits in the root of its cgroup
// namespace, which offers a controller (hugetlb here) that is not enabled.
// Enabling it gives EBUSY: the root must be evacuated first.
func TestSimulatedEvacuation(t *testing.T) {
	probetest.RequireRoot(t)
	const u = "/sys/fs/cgroup/unified"
	ctl, err := os.ReadFile(u + "/cgroup.controllers")
	if err != nil || !slices.Contains(strings.Fields(string(ctl)), "hugetlb") {
		t.Skipf("needs hugetlb on %s (this machine's layout): %v", u, err)
	}
	sub, _ := os.ReadFile(u + "/cgroup.subtree_control")
	if slices.Contains(strings.Fields(string(sub)), "hugetlb") {
		t.Skip("hugetlb already enabled in " + u)
	}
	sim := u + "/kprobe-evac-sim"
	if err := os.WriteFile(u+"/cgroup.subtree_control", []byte("+hugetlb"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(u+"/cgroup.subtree_control", []byte("-hugetlb"), 0); err != nil {
			t.Errorf("restore %s/cgroup.subtree_control: %v", u, err)
		}
	})
	if err := os.Mkdir(sim, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var err error
		for range 100 {
			if err = syscall.Rmdir(sim); err == nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("rmdir %s: %v", sim, err)
	})
	runSimulated(t, "evac", `echo $$ > `+sim+`/cgroup.procs || exit 1
		exec unshare -m --cgroup --propagation private sh -c '
			umount -l /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup || exit 1
			exec "$0" "$@"' "$0" "$@"`)
	ents, _ := os.ReadDir(sim)
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("left behind: %s/%s", sim, e.Name())
		}
	}
}

func TestSimulatedInner(t *testing.T) {
	mode := os.Getenv(simEnv)
	if mode == "" {
		t.Skip("run by TestSimulated*")
	}
	r := probetest.Live(t, cgroups.WriteProbe{})
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	if len(r.Findings) == 0 {
		t.Fatalf("no finding in the simulated %s sandbox: %+v", mode, r.Facts)
	}
	var want map[string]probes.Tri
	var codes []string
	switch mode {
	case "ro":
		want = map[string]probes.Tri{
			"cgroups.writable": probes.No, "cgroups.v1_writable": probes.No, "cgroups.v2_writable": probes.No,
			"cgroups.subtree_control_writable": probes.No, "cgroups.needs_evacuation": probes.Unknown,
		}
		codes = []string{"KP-CG-004"}
		if r.Findings[0].Evidence.Errno != "EROFS" {
			t.Errorf("evidence = %+v, want EROFS", r.Findings[0].Evidence)
		}
	case "evac":
		p := probetest.Live(t, cgroups.Probe{})
		if got := p.Facts.String("cgroups.layout"); got != "v2" {
			t.Errorf("layout = %q, want v2", got)
		}
		if got := p.Facts.Tri("cgroups.namespace"); got != probes.Yes {
			t.Errorf("namespace = %v, want yes", got)
		}
		want = map[string]probes.Tri{
			"cgroups.writable": probes.Yes, "cgroups.v2_writable": probes.Yes, "cgroups.join": probes.Yes,
			"cgroups.subtree_control_writable": probes.Yes, "cgroups.needs_evacuation": probes.Yes,
		}
		codes = []string{"KP-CG-005"}
		if fix := r.Findings[0].Fix; !strings.Contains(fix, "mkdir -p /sys/fs/cgroup/init && xargs -rn1 < /sys/fs/cgroup/cgroup.procs") {
			t.Errorf("fix = %q", fix)
		}
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	for k, w := range want {
		if got := r.Facts.Tri(k); got != w {
			t.Errorf("%s = %v, want %v", k, got, w)
		}
	}
	if got := obstest.Codes(r.Findings); !slices.Equal(got, codes) {
		t.Errorf("codes = %v, want %v", got, codes)
	}
}
