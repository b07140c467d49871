package app

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestLaunchAsNonRootStopsFirst: a user other than root gets one line
// naming what needs root, exit 3, and nothing started or written (it
// failed half-way with "fork/exec .../kprobe: operation not permitted").
func TestLaunchAsNonRootStopsFirst(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run kprobe as another user")
	}
	dir, err := os.MkdirTemp("", "kprobe-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test binary acts as kprobe when it is called kprobe (TestMain).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kprobe")
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
