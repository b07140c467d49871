package app

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/profiles"
)

// TestLaunchAsNonRootStopsFirst: a user other than root gets one line
// naming what needs root, exit 3, and nothing started or written (it
// failed half-way with "fork/exec .../kprobe: operation not permitted").
func TestLaunchAsNonRootStopsFirst(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run kprobe as another user")
	}
	bin, dir := kprobeForNobody(t)
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "launch", "--engine", "kubernetes", "--profile", "builtin:docker-privileged", "--data-dir", data, "--no-tui")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	stderr, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != ExitBadInput {
		t.Fatalf("launch as nobody: %v, want exit 3\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(stderr)), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "kprobe launch needs root") || !strings.Contains(last, "--rung TP") {
		t.Errorf("want a last line naming what needs root and what runs without it, got:\n%s", stderr)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the data dir was created: %v", err)
	}
}

// kprobeForNobody copies this test binary, which acts as kprobe when it
// is called kprobe (TestMain), into a temp dir nobody can enter, removed after the test.
func kprobeForNobody(t *testing.T) (bin, dir string) {
	t.Helper()
	var err error
	dir, err = os.MkdirTemp("", "kprobe-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "kprobe")
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	in.Close()
	out.Close()
	return bin, dir
}

// TestPlanAsNonRootSaysWhatRuns: `kprobe plan` for this sandbox, as a user
// other than root, either plans a rung this user can launch or says in a
// note what needs root and what runs without it (the scan said T1 and the
// launch then failed with "operation not permitted").
func TestPlanAsNonRootSaysWhatRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run kprobe as another user")
	}
	if testing.Short() {
		t.Skip("scans this host as nobody")
	}
	bin, dir := kprobeForNobody(t)
	out, stderr := runAsNobody(t, bin, dir, "plan", "--profile", "auto", "--engine", "kubernetes", "-o", "json")
	var plan struct{ Rung string }
	if err := json.Unmarshal(out, &plan); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, out)
	}
	if launchhost.NeedsRoot(65534, profiles.Rung(plan.Rung), "kubernetes") == nil {
		t.Logf("the plan is %s, which this user can launch", plan.Rung)
		return
	}
	if !strings.Contains(stderr, "not root here") || !strings.Contains(stderr, "--rung TP") {
		t.Errorf("plan %s needs root, but no note says so and names --rung TP:\n%s", plan.Rung, stderr)
	}
}

// TestScanAsNonRootSaysWhatRuns: `kprobe scan` as a user other than root
// gives a verdict this user's launch can reach (the scan said T1 and the
// launch then failed with "operation not permitted"), and a blocker says
// what root would add.
func TestScanAsNonRootSaysWhatRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run kprobe as another user")
	}
	if testing.Short() {
		t.Skip("scans this host as nobody")
	}
	bin, dir := kprobeForNobody(t)
	out, _ := runAsNobody(t, bin, dir, "scan", "-o", "json", "--data-dir", filepath.Join(dir, "data"))
	var scan struct {
		Verdict  struct{ Rung string }
		Blockers []struct{ Code, Fix string }
	}
	if err := json.Unmarshal(out, &scan); err != nil {
		t.Fatalf("scan -o json: %v\n%s", err, out)
	}
	if err := launchhost.NeedsRoot(65534, profiles.Rung(scan.Verdict.Rung), "kubernetes"); err != nil {
		t.Errorf("the scan's verdict as nobody is %s, which nobody cannot launch: %v", scan.Verdict.Rung, err)
	}
	said := false
	for _, b := range scan.Blockers {
		said = said || strings.Contains(b.Fix, "root")
	}
	if !said {
		t.Errorf("no blocker says what root would add: %+v", scan.Blockers)
	}
}

// runAsNobody runs kprobe ARGS as nobody in dir and returns its stdout
// and stderr; an exit other than 0 or ExitBlockers fails the test.
func runAsNobody(t *testing.T, bin, dir string, args ...string) ([]byte, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == ExitBlockers) {
		t.Fatalf("kprobe %s as nobody: %v\n%s", args[0], err, stderr.String())
	}
	return out, stderr.String()
}
