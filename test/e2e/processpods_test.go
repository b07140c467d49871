package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kprobe/kprobe/adapters/launch"
	"github.com/kprobe/kprobe/test/hostcheck"
)

// tpChecks are the verify checks a process-pod cluster (rung TP) must
// pass on the host; service and dns may be skipped (networking for
// process pods, issue #14).
var tpChecks = []string{"control-plane", "kubectl", "deployment", "logs", "exec", "storage", "crash-restart", "readiness", "helm-dry-run", "helm-install"}

// TestProcessPodsVerifyStop is the end-to-end test of rung TP on the host
// (issue 13): launch --rung TP (the node agent runs pods as processes),
// verify the pod checks, stop, and find the host unchanged with no pod
// process left.
func TestProcessPodsVerifyStop(t *testing.T) {
	if os.Getenv("KPROBE_E2E") != "1" {
		t.Skip("end-to-end: set KPROBE_E2E=1 as root after `make build engine images addons` (CI does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end test needs root")
	}
	r := run{t: t, bin: kprobeBin(t)}
	dataDir := filepath.Join(t.TempDir(), "cluster")
	before := hostcheck.Take(hostcheck.Options{Exe: r.bin})
	stopped := false
	defer func() {
		if !stopped {
			_, _ = exec.Command(r.bin, "stop", "--purge", "--data-dir", dataDir).CombinedOutput()
		}
	}()
	res := launchTP(t, r, dataDir)
	if res.Rung != "TP" {
		t.Fatalf("launch --rung TP reached %s", res.Rung)
	}
	verifyTP(t, r, dataDir)

	_, stderr := r.kprobe(0, "stop", "--purge", "--data-dir", dataDir)
	stopped = true
	t.Log(stderr)
	if left := processesUnder(dataDir); len(left) > 0 {
		t.Errorf("stop left pod processes: %v", left)
	}
	after := hostcheck.Take(hostcheck.Options{Exe: r.bin})
	if d := hostcheck.Diff(before, after); d != "" {
		t.Fatalf("stop left the host changed:\n%s", d)
	}
}

func launchTP(t *testing.T, r run, dataDir string, extra ...string) launch.Result {
	t.Helper()
	out, stderr := r.kprobe(0, append([]string{"launch", "--rung", "TP", "--data-dir", dataDir, "--output", "json"}, extra...)...)
	t.Log(stderr)
	var res launch.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Ready {
		t.Fatalf("launch result %q: %v", out, err)
	}
	for _, p := range res.Phases {
		t.Logf("phase %-10s done=%-5v at %6.2fs", p.Name, p.Done, p.AtMS/1000)
	}
	return res
}

func verifyTP(t *testing.T, r run, dataDir string) {
	t.Helper()
	out, _ := r.kprobe(0, "verify", "--data-dir", dataDir, "--output", "json", "--timeout", "3m")
	var rep struct {
		Checks []struct{ Name, Outcome, Evidence string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	outcome := map[string]string{}
	for _, c := range rep.Checks {
		t.Logf("verify %-14s %-7s %s", c.Name, c.Outcome, c.Evidence)
		outcome[c.Name] = c.Outcome
		if c.Outcome == "fail" {
			t.Errorf("verify %s failed: %s", c.Name, c.Evidence)
		}
	}
	for _, name := range tpChecks {
		if outcome[name] != "pass" {
			t.Errorf("verify %s: %q, want pass", name, outcome[name])
		}
	}
}

// processesUnder lists the processes whose root or working directory is
// inside dir (a process pod's container) or whose command line names it
// (the cluster's components), as "pid uid comm".
func processesUnder(dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil || e.Name() == strconv.Itoa(os.Getpid()) {
			continue
		}
		p := filepath.Join("/proc", e.Name())
		root, _ := os.Readlink(p + "/root")
		cwd, _ := os.Readlink(p + "/cwd")
		cmd, _ := os.ReadFile(p + "/cmdline")
		inside := func(s string) bool { return s == dir || strings.HasPrefix(s, dir+"/") }
		if !inside(root) && !inside(cwd) && !strings.Contains(string(cmd), dir) {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil {
			continue
		}
		comm, _ := os.ReadFile(p + "/comm")
		out = append(out, e.Name()+" "+strconv.Itoa(int(st.Uid))+" "+strings.TrimSpace(string(comm)))
	}
	return out
}

// TestProcessPodsNonRoot is issue 13's "works without root" on the host:
// a user made for the test (removed after) launches rung TP with its
// data dir in its home; every process of the cluster, pods included, and
// every file under the data dir is that user's. A rung that needs root
// stops before anything starts, with the reason.
func TestProcessPodsNonRoot(t *testing.T) {
	if os.Getenv("KPROBE_E2E") != "1" {
		t.Skip("end-to-end: set KPROBE_E2E=1 as root after `make build engine images addons` (CI does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end test needs root (to make its test user)")
	}
	r := run{t: t, bin: kprobeBin(t)}
	const name = "kprobe-e2e-tp"
	if o, err := exec.Command("useradd", "--create-home", "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, o)
	}
	defer func() {
		if o, err := exec.Command("userdel", "--remove", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, o)
		}
	}()
	uid, gid, home := userOf(t, name)
	as := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(r.bin, args...)
		cmd.Dir = home
		cmd.Env = []string{"HOME=" + home, "USER=" + name, "PATH=/usr/local/bin:/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("kprobe %v as %s: %v (the kprobe binaries must be readable by other users)", args, name, err)
		}
		if code != wantCode {
			t.Fatalf("kprobe %v as %s exited %d, want %d\nstdout:\n%s\nstderr:\n%s", args, name, code, wantCode, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	dataDir := filepath.Join(home, ".kprobe")
	before := hostcheck.Take(hostcheck.Options{Exe: r.bin})

	// A rung that needs root stops at once, naming why.
	_, stderr := as(3, "launch", "--rung", "T1", "--force-rung", "--data-dir", dataDir, "--no-tui")
	if !strings.Contains(stderr, "need root") || len(processesUnder(dataDir)) > 0 {
		t.Fatalf("launch --rung T1 as %s:\n%s", name, stderr)
	}

	stopped := false
	defer func() {
		if !stopped {
			_, _ = exec.Command(r.bin, "stop", "--purge", "--data-dir", dataDir).CombinedOutput()
		}
	}()
	out, stderr := as(0, "launch", "--rung", "TP", "--data-dir", dataDir, "--output", "json")
	t.Log(stderr)
	var res launch.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Ready || res.Rung != "TP" {
		t.Fatalf("launch as %s: %q: %v", name, out, err)
	}
	procs := processesUnder(dataDir)
	var pod bool
	for _, p := range procs {
		f := strings.Fields(p)
		if f[1] != strconv.Itoa(int(uid)) {
			t.Errorf("cluster process not %s's: %s", name, p)
		}
		pod = pod || f[2] == "sleep" // the probe pod's container
	}
	if len(procs) < 6 || !pod {
		t.Errorf("expected etcd, the control plane, the node agent and the probe pod under %s, found %v", dataDir, procs)
	}
	_ = filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		var st syscall.Stat_t
		if err == nil && syscall.Lstat(p, &st) == nil && st.Uid != uid {
			t.Errorf("%s is owned by uid %d, not %s", p, st.Uid, name)
		}
		return nil
	})

	_, stderr = as(0, "stop", "--purge", "--data-dir", dataDir)
	stopped = true
	t.Log(stderr)
	if left := processesUnder(dataDir); len(left) > 0 {
		t.Errorf("stop left processes: %v", left)
	}
	// The supervisor may still be exiting when stop returns.
	for i := 0; ; i++ {
		out, _ := exec.Command("pgrep", "-u", name).Output()
		if len(out) == 0 {
			break
		}
		if i == 50 {
			t.Errorf("processes of %s left 5 s after stop: %s", name, out)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := hostcheck.Take(hostcheck.Options{Exe: r.bin})
	if d := hostcheck.Diff(before, after); d != "" {
		t.Fatalf("stop left the host changed:\n%s", d)
	}
}

// userOf returns a user's uid, gid and home.
func userOf(t *testing.T, name string) (uint32, uint32, string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		t.Fatalf("user %s: uid %q gid %q", name, u.Uid, u.Gid)
	}
	return uint32(uid), uint32(gid), u.HomeDir
}
