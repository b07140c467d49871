package images

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The integration test's container IDs; the cleanup looks for them.
const (
	smokeID = "kprobe-images-smoke"
	pauseID = "kprobe-images-pause"
)

// TestContainerdImport builds both images, imports them with Import into
// a containerd of its own (root, state and sockets in a temp dir, no CRI
// plugin), runs busybox once and the pause container until SIGTERM, and
// leaves nothing behind: no process, no mount, nothing new in
// /run/containerd.
func TestContainerdImport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts containerd; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd and containers")
	}
	bins := map[string]string{}
	for _, b := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc", "go"} {
		p, err := exec.LookPath(b)
		if err != nil {
			t.Skipf("needs %s in PATH (Debian: apt-get install containerd): %v", b, err)
		}
		bins[b] = p
	}
	busybox := staticBusybox(t)
	dir := t.TempDir()
	// Unix sockets need short paths (108 bytes).
	if len(dir) > 60 {
		t.Skipf("temp dir %s is too long for containerd's sockets", dir)
	}

	// The images.
	start := time.Now()
	pause := filepath.Join(dir, "pause")
	build := exec.Command(bins["go"], "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", pause, "../../hack/images/pause")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build pause: %v\n%s", err, out)
	}
	t.Logf("pause binary built in %v", time.Since(start).Round(time.Millisecond))
	bb, err := BusyboxImage(busybox)
	if err != nil {
		t.Fatal(err)
	}
	archives := map[string]string{}
	infos := map[string]Info{}
	for _, img := range []Image{PauseImage(pause), bb} {
		start := time.Now()
		var buf bytes.Buffer
		if err := BuildOCI(&buf, img); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		info, err := Inspect(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, strings.Split(filepath.Base(img.Name), ":")[0]+".tar")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		archives[img.Name], infos[img.Name] = p, info
		t.Logf("built %s in %v: manifest %s, archive %d bytes", img.Name, took.Round(time.Millisecond), info.Manifest.Digest, info.ArchiveSize)
	}

	// containerd.
	c := startContainerd(t, dir, bins)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, name := range []string{PauseName, BusyboxName} {
		start := time.Now()
		if err := Import(ctx, bins["ctr"], c.sock, CRINamespace, archives[name]); err != nil {
			t.Fatal(err)
		}
		t.Logf("imported %s in %v", name, time.Since(start).Round(time.Millisecond))
	}
	ls := c.ctr(t, "images", "ls")
	for _, name := range []string{PauseName, BusyboxName} {
		found := false
		for _, line := range strings.Split(ls, "\n") {
			f := strings.Fields(line)
			found = found || len(f) > 2 && f[0] == name && f[2] == infos[name].Manifest.Digest
		}
		if !found {
			t.Errorf("ctr images ls has no %s with digest %s:\n%s", name, infos[name].Manifest.Digest, ls)
		}
	}

	// A failed import names the archive and carries ctr's reason.
	err = Import(ctx, bins["ctr"], c.sock, CRINamespace, filepath.Join(dir, "missing.tar"))
	if err == nil || !strings.Contains(err.Error(), "missing.tar") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("import of a missing archive: %v", err)
	}
	// WithSnapshotter reaches ctr: unpacked into native, in a namespace of
	// its own.
	if err := Import(ctx, bins["ctr"], c.sock, "kprobe-native", archives[PauseName], WithSnapshotter("native")); err != nil {
		t.Fatal(err)
	}
	if out := c.ctrNS(t, "kprobe-native", "snapshots", "--snapshotter", "native", "ls"); !strings.Contains(out, "Committed") {
		t.Errorf("no committed native snapshot after import:\n%s", out)
	}

	// busybox runs: a shell, its applets, the accounts and a sticky /tmp.
	out := c.ctr(t, c.runArgs(smokeID, BusyboxName, "sh", "-c",
		"echo hello-from-busybox; id -un; id -un nobody; ls /bin | wc -l; test -k /tmp && echo sticky-tmp")...)
	want := fmt.Sprintf("hello-from-busybox\nroot\nnobody\n%d\nsticky-tmp", infos[BusyboxName].LayerEntries-9)
	if strings.TrimSpace(out) != want {
		t.Errorf("busybox printed %q, want %q", out, want)
	}

	// pause runs as 65535 until SIGTERM, then exits 0.
	var pauseOut bytes.Buffer
	run := exec.Command(bins["ctr"], append([]string{"--address", c.sock, "--namespace", CRINamespace}, c.runArgs(pauseID, PauseName)...)...)
	run.Stdout, run.Stderr = &pauseOut, &pauseOut
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	t.Cleanup(func() {
		if run.ProcessState == nil {
			_ = run.Process.Kill()
			<-done
		}
	})
	pid := c.waitRunning(t, pauseID)
	if uid := statusField(t, pid, "Uid"); strings.Fields(uid)[0] != "65535" {
		t.Errorf("pause runs as uid %q, want 65535", uid)
	}
	c.ctr(t, "task", "kill", "--signal", "SIGTERM", pauseID)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pause after SIGTERM: %v\n%s", err, pauseOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("pause still running 30s after SIGTERM\n%s", pauseOut.String())
	}
	if !strings.Contains(pauseOut.String(), "Shutting down, got signal: terminated") {
		t.Errorf("pause printed %q", pauseOut.String())
	}
	if ids := strings.TrimSpace(c.ctr(t, "containers", "ls", "-q")); ids != "" {
		t.Errorf("containers left after --rm: %s", ids)
	}
}

type containerd struct {
	dir, sock, ctrPath string
	cmd                *exec.Cmd
	exited             chan struct{}
}

// startContainerd runs containerd with everything under dir and registers
// a cleanup that stops it and checks that it left nothing behind.
func startContainerd(t *testing.T, dir string, bins map[string]string) *containerd {
	t.Helper()
	c := &containerd{dir: dir, sock: filepath.Join(dir, "containerd.sock"), ctrPath: bins["ctr"], exited: make(chan struct{})}
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc", filepath.Join(dir, "opt"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	runBefore := listTree("/run/containerd")
	logPath := filepath.Join(dir, "containerd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bins["containerd"], "--config", cfgPath)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	// Should the test binary die, containerd goes with it.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logFile.Close()
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() { c.cleanup(t, runBefore, logPath) })

	for {
		if exec.Command(c.ctrPath, "--address", c.sock, "version").Run() == nil {
			break
		}
		select {
		case <-c.exited:
			t.Fatalf("containerd exited: %v\n%s", c.cmd.ProcessState, tail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("containerd not ready after 20s\n%s", tail(logPath))
		}
	}
	t.Logf("containerd %d ready in %v", c.cmd.Process.Pid, time.Since(start).Round(time.Millisecond))
	return c
}

// runArgs is "ctr run" that keeps runc's state in the temp dir and makes
// no cgroup.
func (c *containerd) runArgs(id, image string, args ...string) []string {
	return append([]string{"run", "--rm", "--cgroup", "", "--runc-root", filepath.Join(c.dir, "runc"), image, id}, args...)
}

func (c *containerd) ctr(t *testing.T, args ...string) string {
	t.Helper()
	return c.ctrNS(t, CRINamespace, args...)
}

func (c *containerd) ctrNS(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := c.try(ns, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (c *containerd) try(ns string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.ctrPath, append([]string{"--address", c.sock, "--namespace", ns}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// waitRunning waits for a task to run and returns its PID.
func (c *containerd) waitRunning(t *testing.T, id string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := c.try(CRINamespace, "tasks", "ls")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == id && f[2] == "RUNNING" {
				pid, err := strconv.Atoi(f[1])
				if err != nil {
					t.Fatal(err)
				}
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("task %s not running after 30s", id)
	return 0
}

// cleanup stops containerd and checks what it, its shims and the
// containers left: processes, mounts under dir, cgroups, entries in
// /run/containerd (the shims' sockets and ctr's FIFOs are there whatever
// the config says). It removes what it finds and reports it as an error.
func (c *containerd) cleanup(t *testing.T, runBefore map[string]bool, logPath string) {
	for _, ns := range []string{CRINamespace, "kprobe-native"} {
		for _, id := range []string{smokeID, pauseID} {
			_, _ = c.try(ns, "tasks", "kill", "--signal", "SIGKILL", id)
			_, _ = c.try(ns, "tasks", "delete", "--force", id)
			_, _ = c.try(ns, "containers", "delete", id)
		}
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		t.Errorf("containerd still running 15s after SIGTERM: killing it\n%s", tail(logPath))
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	for _, pid := range processesMentioning(c.dir) {
		t.Errorf("process %d (%s) outlived containerd: killing it", pid, cmdline(pid))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	mounts := mountsUnder(t, c.dir)
	for _, m := range mounts {
		t.Errorf("mount left under the temp dir: %s", m)
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", m, err)
		}
	}
	for _, cg := range cgroupsNamed(smokeID, pauseID) {
		t.Errorf("cgroup left: %s", cg)
		_ = os.Remove(cg)
	}
	// /run/containerd: put it back as it was.
	after := listTree("/run/containerd")
	var added []string
	for p, isDir := range after {
		if _, ok := runBefore[p]; ok {
			continue
		}
		if !isDir {
			t.Errorf("left in /run/containerd: %s", p)
		}
		added = append(added, p)
	}
	if runBefore == nil {
		sort.Strings(added)
		t.Logf("removing /run/containerd, absent before the test: %q", added)
		if err := os.RemoveAll("/run/containerd"); err != nil {
			t.Errorf("remove /run/containerd, absent before the test: %v", err)
		}
	} else {
		sort.Sort(sort.Reverse(sort.StringSlice(added)))
		for _, p := range added {
			_ = os.Remove(p)
		}
	}
	if t.Failed() {
		t.Logf("containerd log:\n%s", tail(logPath))
	}
}

// listTree maps every path under root to whether it is a directory; nil
// when root does not exist.
func listTree(root string) map[string]bool {
	if _, err := os.Lstat(root); err != nil {
		return nil
	}
	out := map[string]bool{}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			out[p] = d.IsDir()
		}
		return nil
	})
	return out
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// processesMentioning lists the processes whose command line contains s.
func processesMentioning(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if strings.Contains(cmdline(pid), s) {
			out = append(out, pid)
		}
	}
	return out
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// cgroupsNamed finds cgroup directories (four levels deep at most) with
// one of these names.
func cgroupsNamed(names ...string) []string {
	var out []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		for _, n := range names {
			if d.Name() == n {
				out = append(out, p)
			}
		}
		if strings.Count(p, "/") >= 7 {
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

func statusField(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return ""
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
