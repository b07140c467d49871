package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestStaticKprobeScansInBareRoot runs the static kprobe (make static) as
// an unprivileged user in a root filesystem that holds nothing but it and
// busybox (no libc, no /etc), with a /proc of its own in a private mount
// and PID namespace, and requires a scan with a verdict.
func TestStaticKprobeScansInBareRoot(t *testing.T) {
	if os.Getenv("KPROBE_E2E") != "1" {
		t.Skip("end-to-end: set KPROBE_E2E=1 as root after `make static` (make test does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end test needs root (to chroot and unshare)")
	}
	// make static writes bin/kprobe-static beside bin/kprobe.
	static := filepath.Join(filepath.Dir(kprobeBin(t)), "kprobe-static")
	if _, err := os.Stat(static); err != nil {
		t.Fatalf("%v: run `make static` first", err)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox is not installed (make engine-deps installs busybox-static)")
	}
	for _, f := range []string{static, busybox} {
		if out, err := exec.Command("file", "-L", f).Output(); err == nil && !strings.Contains(string(out), "statically linked") {
			t.Fatalf("%s is not static: %s", f, out)
		}
	}
	root := t.TempDir()
	os.Chmod(root, 0o755)
	for _, d := range []string{"bin", "proc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	copyFile := func(src, dst string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(static, filepath.Join(root, "bin", "kprobe"))
	copyFile(busybox, filepath.Join(root, "bin", "busybox"))
	if err := os.Symlink("busybox", filepath.Join(root, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	// unshare: a private mount and PID namespace with its own /proc
	// under root, gone when the command ends; then nobody in the chroot.
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Skip("chroot is not installed")
	}
	cmd := exec.Command("unshare", "--mount", "--pid", "--fork", "--mount-proc="+filepath.Join(root, "proc"),
		chroot, "--userspec=65534:65534", root, "/bin/kprobe", "scan", "--passive", "--data-dir", "/tmp/kprobe", "--output", "json")
	cmd.Env = []string{"PATH=/bin", "HOME=/tmp"}
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		t.Logf("stderr:\n%s", ee.Stderr)
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 0 && code != 2 {
		t.Fatalf("scan in a bare root exited %d\n%s", code, out)
	}
	if !strings.Contains(string(out), `"verdict"`) {
		t.Fatalf("no verdict in the scan's JSON:\n%.2000s", out)
	}
	t.Logf("scan in a root of only kprobe and busybox, as nobody: exit %d, %d bytes of JSON", code, len(out))
}
