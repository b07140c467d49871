package container_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/container"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

func TestMain(m *testing.M) { probetest.Main(m) }

func TestJudge(t *testing.T) {
	yes := func(m string) container.Attempt { return container.Attempt{Mode: m, Result: probes.Yes, Output: "ok"} }
	no := func(m, e string) container.Attempt {
		return container.Attempt{Mode: m, Result: probes.No, Err: errors.New(e)}
	}
	unk := func(m string) container.Attempt { return container.Attempt{Mode: m, Err: errors.New("not attempted")} }
	// Real libcontainer errors seen in the zoo's restricted sandboxes.
	const (
		errCgroup = "unable to start container process: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/pids/kprobe-full-7-ab: read-only file system"
		errMount  = "unable to start container process: error during container init: error mounting \"proc\" to rootfs at \"/proc\": mount proc:/proc (via /proc/self/fd/7), flags: 0xe: operation not permitted"
		errUserns = "unable to start container process: error during container init: nsexec-1[20]: failed to unshare remaining namespaces (except cgroupns): Operation not permitted"
	)
	tests := []struct {
		name     string
		attempts []container.Attempt
		userns   error
		best     string // "" means unset
		codes    []string
		fix      string
		sum      string // the Observation.Summary
	}{
		{"host", []container.Attempt{yes("full"), yes("no-cgroups"), yes("rootless")}, nil, "full", nil, "", "runc containers: full no-cgroups rootless ok"},
		{"read-only cgroupfs", []container.Attempt{no("full", errCgroup), yes("no-cgroups"), yes("rootless")}, nil,
			"no-cgroups", []string{"KP-CT-002"}, container.CodeNoCgroupsOnly.Fix, "runc containers: full fail, no-cgroups rootless ok"},
		{"rootless user", []container.Attempt{no("full", errMount), no("no-cgroups", errMount), yes("rootless")}, nil,
			"rootless", []string{"KP-CT-003"}, "unshare --user --map-root-user", "runc containers: full no-cgroups fail, rootless ok"},
		{"docker-like, userns blocked", []container.Attempt{no("full", errMount), no("no-cgroups", errMount), no("rootless", errUserns)},
			syscall.EPERM, "none", []string{"KP-CT-001"}, "allow user namespaces", "runc containers: full no-cgroups rootless fail"},
		{"gvisor, userns works", []container.Attempt{no("full", errMount), no("no-cgroups", errMount), no("rootless", errMount)},
			nil, "none", []string{"KP-CT-001"}, "no container can run here", "runc containers: full no-cgroups rootless fail"},
		{"not attempted", []container.Attempt{unk("full"), unk("no-cgroups"), unk("rootless")}, nil, "", nil, "", "runc containers: full no-cgroups rootless not tried"},
		{"partly blind", []container.Attempt{no("full", errMount), no("no-cgroups", errMount), unk("rootless")}, nil, "", nil, "", "runc containers: full no-cgroups fail, rootless not tried"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := probes.NewObservation()
			container.Judge(o, tt.attempts, tt.userns)
			if got := o.Facts.String("container.best"); got != tt.best {
				t.Errorf("container.best = %q, want %q", got, tt.best)
			}
			if _, set := o.Facts["container.best"]; set != (tt.best != "") {
				t.Errorf("container.best set = %v, want %v", set, tt.best != "")
			}
			for i, key := range []string{"container.full", "container.no_cgroups", "container.rootless"} {
				if got := o.Facts.Tri(key); got != tt.attempts[i].Result {
					t.Errorf("%s = %v, want %v", key, got, tt.attempts[i].Result)
				}
			}
			if got := strings.Join(obstest.Codes(o.Findings), ","); got != strings.Join(tt.codes, ",") {
				t.Fatalf("codes = %q, want %q", got, tt.codes)
			}
			if o.Summary != tt.sum {
				t.Errorf("summary %q, want %q", o.Summary, tt.sum)
			}
			if tt.fix != "" && !strings.Contains(o.Findings[0].Fix, tt.fix) {
				t.Errorf("fix = %q, want it to contain %q", o.Findings[0].Fix, tt.fix)
			}
			for _, f := range o.Findings {
				for _, a := range tt.attempts {
					if a.Result == probes.No && !strings.Contains(f.Evidence.Excerpt, a.Err.Error()) {
						t.Errorf("evidence %q lacks the exact error %q", f.Evidence.Excerpt, a.Err)
					}
				}
			}
		})
	}
}

func TestDeclarations(t *testing.T) {
	p := container.Probe{}
	if !probes.ValidID(p.ID()) || p.Mode() != probes.Active || p.Domain() != probes.DomainContainer {
		t.Fatalf("bad identity %q %v %v", p.ID(), p.Mode(), p.Domain())
	}
	keys := map[string]bool{}
	for _, f := range p.Facts() {
		keys[f.Key] = true
	}
	for _, k := range []string{"container.full", "container.no_cgroups", "container.rootless", "container.best"} {
		if !keys[k] {
			t.Errorf("fact %s not declared", k)
		}
	}
	for _, c := range p.Codes() {
		if c.Fix == "" || c.Meaning == "" || !strings.HasPrefix(c.Code, "KP-CT-") {
			t.Errorf("code %+v incomplete", c)
		}
	}
}

// kprobeLeftovers lists cgroups and mounts named like ours.
func kprobeLeftovers(t *testing.T) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.Contains(d.Name(), "kprobe") {
			out = append(out, p)
		}
		return nil
	})
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "kprobe") {
			out = append(out, sc.Text())
		}
	}
	return out
}

// TestLive starts the containers on this host: root on a hybrid cgroup
// v1 machine with the cgroupfs driver, where every configuration works.
func TestLive(t *testing.T) {
	probetest.RequireRoot(t)
	if !container.Available() {
		t.Skip("built without cgo: libcontainer's nsenter is missing")
	}
	before := kprobeLeftovers(t)
	r := probetest.Live(t, container.Probe{})
	t.Logf("status %s in %.1f ms; facts %v", r.Status, r.DurationMS, r.Facts)
	for _, e := range r.Evidence {
		t.Logf("evidence: %s", e)
	}
	if r.Error != "" {
		t.Fatalf("error: %s", r.Error)
	}
	for _, k := range []string{"container.full", "container.no_cgroups", "container.rootless"} {
		if got := r.Facts.Tri(k); got != probes.Yes {
			t.Errorf("%s = %v, want yes", k, got)
		}
	}
	if got := r.Facts.String("container.best"); got != container.ModeFull {
		t.Errorf("container.best = %q, want full", got)
	}
	if r.Status != probes.StatusOK || len(r.Findings) != 0 {
		t.Errorf("status %s, findings %+v; want ok and none", r.Status, r.Findings)
	}
	for _, e := range r.Evidence {
		if strings.Contains(e.Excerpt, "left behind") {
			t.Errorf("leftover: %s", e)
		}
	}
	if after := kprobeLeftovers(t); len(after) != len(before) {
		t.Errorf("leftovers after the probe: %q (before: %q)", after, before)
	}
}

// TestLiveRestricted runs the probe again in a private mount namespace
// where the cgroup hierarchies are read-only (as in a Docker container
// without --privileged), then where none is mounted (as in bwrap or
// gVisor). The test binary re-runs itself under unshare(1) with
// KPROBE_CT_CASE naming the case, and the inner run checks the verdict.
func TestLiveRestricted(t *testing.T) {
	probetest.RequireRoot(t)
	if !container.Available() {
		t.Skip("built without cgo: libcontainer's nsenter is missing")
	}
	switch os.Getenv("KPROBE_CT_CASE") {
	case "ro-cgroups":
		r := probetest.Live(t, container.Probe{})
		t.Logf("facts %v, evidence %v", r.Facts, r.Evidence)
		want := map[string]probes.Tri{"container.full": probes.No, "container.no_cgroups": probes.Yes, "container.rootless": probes.Yes}
		for k, v := range want {
			if got := r.Facts.Tri(k); got != v {
				t.Errorf("%s = %v, want %v", k, got, v)
			}
		}
		if got := r.Facts.String("container.best"); got != container.ModeNoCgroups {
			t.Errorf("container.best = %q, want no-cgroups", got)
		}
		if len(r.Findings) != 1 || r.Findings[0].Code != container.CodeNoCgroupsOnly.Code ||
			!strings.Contains(r.Findings[0].Evidence.Excerpt, "read-only file system") {
			t.Errorf("findings %+v, want one KP-CT-002 citing the EROFS", r.Findings)
		}
		return
	case "no-cgroups":
		r := probetest.Live(t, container.Probe{})
		t.Logf("facts %v, evidence %v", r.Facts, r.Evidence)
		for _, k := range []string{"container.full", "container.no_cgroups", "container.rootless"} {
			if got := r.Facts.Tri(k); got != probes.No {
				t.Errorf("%s = %v, want no", k, got)
			}
		}
		if got := r.Facts.String("container.best"); got != container.ModeNone {
			t.Errorf("container.best = %q, want none", got)
		}
		if r.Status != probes.StatusBlock || len(r.Findings) != 1 ||
			!strings.Contains(r.Findings[0].Evidence.Excerpt, "no cgroup mount found") ||
			r.Findings[0].Fix != container.CodeCannotStart.Fix {
			t.Errorf("status %s, findings %+v; want one KP-CT-001 with the control-plane fix", r.Status, r.Findings)
		}
		return
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1)")
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil || len(mounts) == 0 {
		t.Fatalf("cgroup mounts: %v %v", mounts, err)
	}
	var remount []string
	for _, m := range mounts {
		remount = append(remount, "mount -o remount,bind,ro "+m.Mountpoint)
	}
	before := kprobeLeftovers(t)
	for name, script := range map[string]string{
		"ro-cgroups": strings.Join(remount, " && "),
		"no-cgroups": "umount -R /sys/fs/cgroup",
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c",
				script+` && exec "$0" -test.run '^TestLiveRestricted$' -test.v`, os.Args[0])
			cmd.Env = append(os.Environ(), "KPROBE_CT_CASE="+name)
			out, err := cmd.CombinedOutput()
			t.Logf("%s", out)
			if err != nil {
				t.Fatalf("inner run: %v", err)
			}
		})
	}
	if after := kprobeLeftovers(t); len(after) != len(before) {
		t.Errorf("leftovers after the probe: %q (before: %q)", after, before)
	}
}
