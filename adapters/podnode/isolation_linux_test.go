package podnode

import (
	"bytes"
	"debug/elf"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/reexec"
)

func TestMain(m *testing.M) {
	RegisterInit()
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

// staticBusybox returns a static busybox of this machine, or skips.
func staticBusybox(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p
		}
	}
	t.Skip("no static busybox on this machine")
	return ""
}

// busyboxRoot makes a minimal image root: /bin/busybox and /bin/sh.
func busyboxRoot(t *testing.T) string {
	t.Helper()
	bb := staticBusybox(t)
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(root, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestChooseIsolationAndRun picks the isolation this machine allows (by
// really trying each level), then runs a shell from an image root with it:
// the root is "/", the environment and working dir are the spec's, a
// volume is visible at its mount path (bound or, for chroot, copied), and
// the exit code comes back.
func TestChooseIsolationAndRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes in new namespaces")
	}
	iso, why, err := ChooseIsolation(IsolationAuto, filepath.Join(t.TempDir(), "probe"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("isolation %s: %s", iso, why)
	if os.Getuid() == 0 && hasCapSysAdmin() && iso != IsolationUserns {
		t.Errorf("root with CAP_SYS_ADMIN got %s, want userns", iso)
	}
	if iso == IsolationNone {
		t.Skip("neither namespaces nor chroot work here")
	}
	root := busyboxRoot(t)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "key"), []byte("from-volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := procSpec{Mode: iso, Root: root, NewNS: true, Hostname: "pod-a", Dir: "/work",
		Argv: []string{"sh", "-c", `echo "$GREETING $(pwd) $(cat /data/key)"; ls /; exit 7`},
		Env:  []string{"PATH=/bin", "GREETING=hello"}, UID: -1, GID: -1}
	if iso == IsolationUserns {
		spec.Mounts = []bindMount{{Source: vol, Target: "/data", ReadOnly: true}}
	} else {
		if err := copyTree(vol, filepath.Join(root, "data")); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	p, err := startProcess(spec, nil, &out, &errOut, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.wait()
	if err != nil {
		t.Fatal(err)
	}
	if code != 7 {
		t.Errorf("exit code %d, want 7 (stderr %q)", code, errOut.String())
	}
	first, rest, _ := strings.Cut(out.String(), "\n")
	if first != "hello /work from-volume" {
		t.Errorf("first line %q, want %q (stderr %q)", first, "hello /work from-volume", errOut.String())
	}
	if !strings.Contains(rest, "bin") || strings.Contains(rest, "proc\nroot\nrun") && iso == IsolationChroot {
		t.Errorf("ls / inside the root shows %q", rest)
	}
	if _, err := os.Stat(filepath.Join(vol, "work")); err == nil {
		t.Error("the working dir was made outside the root")
	}
}

// TestOwnAddressAndExec runs a container that listens on all addresses
// under the bind tracer (its own address given) and checks it listens on
// that address only; then, where the isolation is userns, an exec joins
// it through the root the agent opened and sees its volume.
func TestOwnAddressAndExec(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes in new namespaces")
	}
	iso, _, err := ChooseIsolation(IsolationAuto, filepath.Join(t.TempDir(), "probe"))
	if err != nil || iso == IsolationNone {
		t.Skipf("no isolation here: %v", err)
	}
	own := netip.MustParseAddr("127.244.3.7")
	if err := checkOwnBinds(own); err != nil {
		t.Skipf("binds cannot be rewritten here: %v", err)
	}
	root := busyboxRoot(t)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "key"), []byte("from-volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := procSpec{Mode: iso, Root: root, NewNS: true, Argv: []string{"sh", "-c", "mkdir -p /www; exec httpd -f -p 18099 -h /www"},
		Env: []string{"PATH=/bin"}, UID: -1, GID: -1, OwnAddr: own.String(),
		Mounts: []bindMount{{Source: vol, Target: "/data", ReadOnly: true}}}
	if iso == IsolationChroot {
		spec.Mounts = nil
	}
	var out bytes.Buffer
	p, err := startProcess(spec, nil, &out, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.signal(syscall.SIGKILL); _, _ = p.wait() }()
	var c net.Conn
	for i := 0; i < 50; i++ {
		if c, err = net.Dial("tcp", net.JoinHostPort(own.String(), "18099")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the container does not answer on its own address: %v (%s)", err, out.String())
	}
	c.Close()
	if c, err := net.Dial("tcp", "127.0.0.1:18099"); err == nil {
		c.Close()
		t.Error("the container also listens on 127.0.0.1: its bind was not rewritten")
	}
	if iso != IsolationUserns {
		return
	}
	ex := procSpec{Mode: iso, Root: fmt.Sprintf("/proc/%d/root", p.pid()), Argv: []string{"sh", "-c", "read x < /data/key; echo -n $x"},
		Env: []string{"PATH=/bin"}, UID: -1, GID: -1}
	var exOut bytes.Buffer
	ep, err := startProcess(ex, nil, &exOut, &exOut, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := ep.wait(); err != nil || code != 0 || exOut.String() != "from-volume" {
		t.Errorf("exec: exit %d, %v, %q", code, err, exOut.String())
	}
}

// TestUnmappedUserNamespace runs a container where a user namespace can be
// made but root cannot be mapped in it, as in runc --rootless (the sandbox's
// root maps one id and lacks CAP_SETFCAP): the test re-runs itself as root
// of a user namespace without CAP_SETFCAP and CAP_SYS_ADMIN (setpriv), where
// the agent must choose userns without a uid map and still give the
// container its image root, a volume and its exit code.
func TestUnmappedUserNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes in new namespaces")
	}
	if os.Getenv("KPROBE_PODNODE_UNMAPPED") == "1" {
		unmappedChild(t)
		return
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to make the user namespace the test runs in")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux)")
	}
	staticBusybox(t)
	cmd := exec.Command(setpriv, "--bounding-set=-setfcap,-sys_admin", "--inh-caps=-all",
		os.Args[0], "-test.run=^TestUnmappedUserNamespace$", "-test.v")
	cmd.Env = append(os.Environ(), "KPROBE_PODNODE_UNMAPPED=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}}
	out, err := cmd.CombinedOutput()
	t.Logf("in a user namespace without CAP_SETFCAP:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skip("skipped inside the user namespace")
	}
}

func unmappedChild(t *testing.T) {
	if hasCapSysAdmin() {
		t.Fatal("setpriv left CAP_SYS_ADMIN")
	}
	iso, why, err := ChooseIsolation(IsolationUserns, filepath.Join(t.TempDir(), "probe"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("isolation %s: %s", iso, why)
	if iso != IsolationUserns || !unmappedUserNS.Load() {
		t.Fatalf("got %s (unmapped %v), want userns without a uid map", iso, unmappedUserNS.Load())
	}
	root := busyboxRoot(t)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "key"), []byte("from-volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := procSpec{Mode: iso, Root: root, NewNS: true, Hostname: "pod-u", Dir: "/work",
		Argv: []string{"sh", "-c", `echo "$(id -u) $(hostname) $(pwd) $(cat /data/key) $(grep CapEff /proc/self/status)"; exit 5`},
		Env:  []string{"PATH=/bin"}, UID: -1, GID: -1,
		Mounts: []bindMount{{Source: vol, Target: "/data", ReadOnly: true}}}
	var out, errOut bytes.Buffer
	p, err := startProcess(spec, nil, &out, &errOut, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.wait()
	if err != nil {
		t.Fatal(err)
	}
	want := "65534 pod-u /work from-volume CapEff:\t0000000000000000\n"
	if code != 5 || out.String() != want {
		t.Errorf("exit %d, output %q, want 5 and %q (stderr %q)", code, out.String(), want, errOut.String())
	}

	// An exec into a running container: through /proc/PID/root it is
	// refused (a sibling user namespace); in namespaces of its own, with
	// the same root and volumes (what execSpec gives here), it sees what
	// the container wrote.
	spec.Argv = []string{"sh", "-c", "echo written >/work/mark; exec sleep 30"}
	out.Reset()
	ctr, err := startProcess(spec, nil, &out, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ctr.signal(syscall.SIGKILL); _, _ = ctr.wait() }()
	mark := filepath.Join(root, "work", "mark")
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(mark); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	viaProc := procSpec{Mode: iso, Root: fmt.Sprintf("/proc/%d/root", ctr.pid()), Argv: []string{"/bin/busybox", "true"}, UID: -1, GID: -1}
	var procOut bytes.Buffer
	if p, err := startProcess(viaProc, nil, &procOut, &procOut, nil); err == nil {
		if code, _ := p.wait(); code == 0 {
			t.Log("chroot through /proc/PID/root works here too")
		} else {
			t.Logf("through /proc/PID/root: exit %d: %s", code, procOut.String())
		}
	}
	execSpec := spec
	execSpec.Argv = []string{"sh", "-c", "cat /work/mark /data/key"}
	out.Reset()
	p, err = startProcess(execSpec, nil, &out, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.wait(); err != nil || code != 0 || out.String() != "written\nfrom-volume" {
		t.Errorf("exec in namespaces of its own: exit %d (%v), output %q", code, err, out.String())
	}
}
