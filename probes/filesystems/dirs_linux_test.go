//go:build linux

package filesystems

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kprobe/kprobe/probes"
)

// TestDirsProbeInUserNamespace reproduces the zoo's userns-user sandbox:
// root of a user namespace that maps one unprivileged uid. /var/lib
// belongs to an unmapped owner there, so /var/lib/kubelet cannot be made
// (a launch reached only T3 on "mkdir /var/lib/kubelet: permission
// denied" where the scan said T1).
func TestDirsProbeInUserNamespace(t *testing.T) {
	if os.Getenv("KPROBE_DIRS_CHILD") == "1" {
		o, _ := DirsProbe{}.Run(context.Background(), &probes.Env{})
		os.Stdout.WriteString(o.Facts.Tri("fs.engine_dirs").String() + "\n" + strings.Join(o.Facts.List("fs.engine_dirs_denied"), "\n"))
		return
	}
	if os.Getuid() != 0 || testing.Short() {
		t.Skip("needs root to map another uid into a user namespace; skipped with -short")
	}
	// The test binary sits in go's 0700 build dir: give uid 65534 a
	// copy it can execute.
	dir, err := os.MkdirTemp("", "kprobe-dirs-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "dirs.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestDirsProbeInUserNamespace$")
	cmd.Env = append(os.Environ(), "KPROBE_DIRS_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		// Become the namespace's root, not real root left unmapped.
		Credential: &syscall.Credential{Uid: 0, Gid: 0},
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	got := string(out)
	if !strings.HasPrefix(got, "no\n") || !strings.Contains(got, "/var/lib/kubelet (EACCES") {
		t.Errorf("in a user namespace of uid 65534: %q, want no with /var/lib/kubelet EACCES", got)
	}
	// As real root here, every directory can be made.
	o, _ := DirsProbe{}.Run(context.Background(), &probes.Env{})
	if got := o.Facts.Tri("fs.engine_dirs"); got != probes.Yes {
		t.Errorf("as root: fs.engine_dirs = %v (%v)", got, o.Facts.List("fs.engine_dirs_denied"))
	}
}
