//go:build linux

package shims

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	pcgroups "github.com/kprobe/kprobe/probes/cgroups"
)

// mountTable is this namespace's mount table, in a form that compares
// before and after (IDs left out: a remount gets a new one).
func mountTable(tb testing.TB) []string {
	tb.Helper()
	ms, err := mountinfo.GetMounts(nil)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%s %s %s %s %s", m.Mountpoint, m.FSType, m.Source, m.Root, propagationOf(m.Optional)))
	}
	sort.Strings(out)
	return out
}

// tree lists the files under dir with type, mode and content (for small
// regular files).
func tree(tb testing.TB, dir string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", strings.TrimPrefix(p, dir), fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		case fi.Mode()&os.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			line += " -> " + t
		}
		out = append(out, line)
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		tb.Fatal(err)
	}
	return out
}

func same(tb testing.TB, what string, before, after []string) {
	tb.Helper()
	if d := diff(before, after); d != "" {
		tb.Errorf("%s changed:\n%s", what, d)
	}
}

func apply(tb testing.TB, name string, env *Env) *Applied {
	tb.Helper()
	s, err := Get(name)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := s.Apply(context.Background(), env)
	if err != nil {
		tb.Fatalf("apply %s: %v", name, err)
	}
	return a
}

func undo(tb testing.TB, a *Applied) {
	tb.Helper()
	if err := a.Undo(context.Background()); err != nil {
		tb.Fatalf("undo %s: %v", a.Shim, err)
	}
	if len(a.Steps) != 0 {
		tb.Fatalf("undo %s left steps %+v", a.Shim, a.Steps)
	}
}

// roundTrip applies twice (the second must be a no-op), undoes both and
// returns the first journal after a JSON round trip, as stop would load it.
func idempotent(t *testing.T, name string, env *Env, check func()) {
	t.Helper()
	a := apply(t, name, env)
	t.Logf("%s: %v %v", name, a.Notes, a.Outputs)
	if check != nil {
		check()
	}
	b := apply(t, name, env)
	if !b.Empty() {
		t.Errorf("second apply of %s changed things: %+v", name, b.Steps)
	}
	undo(t, b)
	if check != nil {
		check() // the second undo must not take the first one's change
	}
	p := filepath.Join(t.TempDir(), "shims.json")
	if err := Save(p, []*Applied{a}); err != nil {
		t.Fatal(err)
	}
	as, err := Load(p)
	if err != nil || len(as) != 1 {
		t.Fatalf("load: %v %v", as, err)
	}
	undo(t, as[0])
}

func TestKmsgMissing(t *testing.T) {
	needRoot(t)
	needPrivateNS(t)
	dir := t.TempDir()
	env := &Env{Kmsg: filepath.Join(dir, "dev", "kmsg"), PrivateNS: true}
	mt, files := mountTable(t), tree(t, dir)
	idempotent(t, "kmsg", env, func() {
		if err := tryOpen(env.Kmsg); err != nil {
			t.Fatalf("stand-in does not open: %v", err)
		}
		b := make([]byte, 16)
		f, _ := os.Open(env.Kmsg)
		n, _ := f.Read(b)
		f.Close()
		if n != 0 {
			t.Errorf("stand-in reads %q, want nothing", b[:n])
		}
	})
	same(t, "mount table", mt, mountTable(t))
	same(t, "files", files, tree(t, dir))
}

func TestKmsgUnopenableNode(t *testing.T) {
	needRoot(t)
	needPrivateNS(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "kmsg")
	// Major 240 is reserved for local use: no driver, open gives ENXIO.
	if err := unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(240, 0))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	if err := tryOpen(p); err == nil {
		t.Skip("the node opens here")
	}
	env := &Env{Kmsg: p, PrivateNS: true}
	mt, files := mountTable(t), tree(t, dir)
	idempotent(t, "kmsg", env, func() {
		if err := tryOpen(p); err != nil {
			t.Fatalf("stand-in does not open: %v", err)
		}
	})
	same(t, "mount table", mt, mountTable(t))
	same(t, "files", files, tree(t, dir))
	if err := tryOpen(p); !errors.Is(err, unix.ENXIO) {
		t.Errorf("after undo the original node should be back (ENXIO), got %v", err)
	}
}

func TestKmsgSymlinkWhenMountIsRefused(t *testing.T) {
	dir := t.TempDir()
	env := &Env{Kmsg: filepath.Join(dir, "kmsg")}
	mountFn = func(string, string, string, uintptr, string) error { return unix.EPERM }
	defer func() { mountFn = unix.Mount }()
	files := tree(t, dir)
	a := apply(t, "kmsg", env)
	if a.Outputs["method"] != "symlink" {
		t.Fatalf("method %q, want symlink; notes %v", a.Outputs["method"], a.Notes)
	}
	if tgt, err := os.Readlink(env.Kmsg); err != nil || (tgt != devConsole && tgt != devNull) {
		t.Fatalf("readlink: %q %v", tgt, err)
	}
	if b := apply(t, "kmsg", env); !b.Empty() {
		t.Errorf("second apply changed things: %+v", b.Steps)
	}
	undo(t, a)
	same(t, "files", files, tree(t, dir))

	// A node that exists but does not open cannot be replaced.
	p := filepath.Join(dir, "node")
	if err := unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(240, 0))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	if _, err := Must("kmsg").Apply(context.Background(), &Env{Kmsg: p}); err == nil {
		t.Error("replacing an unusable node without mounts should fail")
	}
}

// Must is Get for names known to exist.
func Must(name string) *Shim {
	s, err := Get(name)
	if err != nil {
		panic(err)
	}
	return s
}

// TestKmsgLive runs the shim on the real /dev/kmsg: a no-op on the host,
// the stand-in inside sandboxes without one (run it in the zoo).
func TestKmsgLive(t *testing.T) {
	env := &Env{PrivateNS: inPrivateNS}
	mt := mountTable(t)
	before, berr := os.Lstat("/dev/kmsg")
	openBefore := tryOpen("/dev/kmsg")
	a, err := Must("kmsg").Apply(context.Background(), env)
	if err != nil {
		t.Fatalf("apply: %v (open before: %v)", err, openBefore)
	}
	t.Logf("/dev/kmsg before: %v; shim: %v %v", openBefore, a.Notes, a.Outputs)
	switch a.Outputs["method"] {
	case "none", "bind":
		if err := tryOpen("/dev/kmsg"); err != nil {
			t.Errorf("/dev/kmsg does not open after the shim: %v", err)
		}
	case "symlink":
		if _, err := os.Readlink("/dev/kmsg"); err != nil {
			t.Error(err)
		}
	}
	undo(t, a)
	after, aerr := os.Lstat("/dev/kmsg")
	if (berr == nil) != (aerr == nil) || (berr == nil && !os.SameFile(before, after)) {
		t.Errorf("/dev/kmsg before %v/%v, after %v/%v", before, berr, after, aerr)
	}
	same(t, "mount table", mt, mountTable(t))
}

func TestNamespaceShimsRefuseSharedNS(t *testing.T) {
	for _, n := range []string{"rshared", "fake-sysctls"} {
		_, err := Must(n).Apply(context.Background(), &Env{})
		if !errors.Is(err, ErrNeedPrivateNS) {
			t.Errorf("%s outside a private namespace: %v, want ErrNeedPrivateNS", n, err)
		}
	}
}

func TestRshared(t *testing.T) {
	needRoot(t)
	needPrivateNS(t)
	mt := mountTable(t)
	idempotent(t, "rshared", &Env{PrivateNS: true}, func() {
		ms, _ := mountinfo.GetMounts(nil)
		covered := coveredMounts(ms)
		for _, m := range ms {
			if !covered[m.ID] && !strings.Contains(propagationOf(m.Optional), "shared") {
				t.Errorf("%s is %s after rshared", m.Mountpoint, propagationOf(m.Optional))
			}
		}
	})
	same(t, "mount table", mt, mountTable(t))
}

func TestTmpfsDataDir(t *testing.T) {
	needRoot(t)
	needPrivateNS(t)
	base := t.TempDir()
	dir := filepath.Join(base, "data")
	must(t, os.MkdirAll(filepath.Join(dir, "agent", "etc"), 0o711))
	must(t, os.WriteFile(filepath.Join(dir, "agent", "etc", "config.toml"), []byte("x = 1\n"), 0o640))
	must(t, os.Symlink("agent/etc", filepath.Join(dir, "etc")))
	must(t, os.Chmod(dir, 0o750))
	mt, files := mountTable(t), tree(t, base)
	idempotent(t, "tmpfs-datadir", &Env{DataDir: dir}, func() {
		m, err := topMount(dir)
		if err != nil || m == nil || m.FSType != "tmpfs" {
			t.Fatalf("top mount at %s: %+v %v", dir, m, err)
		}
		same(t, "data dir content on the tmpfs", files, tree(t, base))
	})
	same(t, "mount table", mt, mountTable(t))
	same(t, "files", files, tree(t, base))

	// Writes on the tmpfs go away with it; a missing data dir is created
	// and removed.
	fresh := filepath.Join(base, "new", "data")
	a := apply(t, "tmpfs-datadir", &Env{DataDir: fresh})
	must(t, os.WriteFile(filepath.Join(fresh, "state"), []byte("x"), 0o600))
	undo(t, a)
	same(t, "files after a fresh data dir", files, tree(t, base))
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func readSysctl(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "error: " + errnoOf(err).Error()
	}
	return strings.TrimSpace(string(b))
}

// TestFakeSysctls fakes an entry that cannot be written (kernel.ngroups_max
// is 0444 even for root) and creates missing ones, on the real /proc/sys.
func TestFakeSysctls(t *testing.T) {
	needRoot(t)
	needPrivateNS(t)
	if _, err := os.Stat("/proc/sys/kernel/ngroups_max"); err != nil {
		t.Skip("no kernel/ngroups_max here")
	}
	want := map[string]string{
		"kernel.ngroups_max":           "12345",
		"kernel.kprobe_test_missing":   "7",
		"kernel.kprobe_dir.sub.value":  "8",
		"kernel/kprobe_dir/sub/other2": "9",
	}
	hostname := readSysctl("/proc/sys/kernel/hostname")
	ngroups := readSysctl("/proc/sys/kernel/ngroups_max")
	mt := mountTable(t)
	env := &Env{PrivateNS: true, Sysctls: want, StateDir: t.TempDir()}
	idempotent(t, "fake-sysctls", env, func() {
		for k, v := range want {
			if got := readSysctl(filepath.Join("/proc/sys", sysctlPath(k))); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if got := readSysctl("/proc/sys/kernel/hostname"); got != hostname {
			t.Errorf("kernel.hostname reads %q under the tmpfs, want %q", got, hostname)
		}
	})
	same(t, "mount table", mt, mountTable(t))
	if got := readSysctl("/proc/sys/kernel/ngroups_max"); got != ngroups {
		t.Errorf("ngroups_max after undo: %q, want %q", got, ngroups)
	}
	if _, err := os.Stat("/proc/sys/kernel/kprobe_test_missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("kprobe_test_missing after undo: %v", err)
	}
	if ents, _ := os.ReadDir(env.StateDir); len(ents) != 0 {
		t.Errorf("state dir not empty after undo: %v", ents)
	}
}

// TestFakeSysctlsDefaults applies the kubelet's set to the real /proc/sys:
// on a normal host every entry is writable (no-op); in gVisor most are
// missing or give EIO (run it in the zoo).
func TestFakeSysctlsDefaults(t *testing.T) {
	needPrivateNS(t)
	mt := mountTable(t)
	a := apply(t, "fake-sysctls", &Env{PrivateNS: true, StateDir: t.TempDir()})
	t.Logf("notes: %s", strings.Join(a.Notes, "\n  "))
	for k, v := range DefaultSysctls() {
		p := filepath.Join("/proc/sys", sysctlPath(k))
		if got := readSysctl(p); got != v && writeBack(p, []byte(got)) != nil {
			t.Errorf("%s = %q and not writable, want %q", k, got, v)
		}
	}
	undo(t, a)
	same(t, "mount table", mt, mountTable(t))
}

// cgroup2Mount finds a cgroup v2 mount (/sys/fs/cgroup or, on hybrid
// hosts, /sys/fs/cgroup/unified).
func cgroup2Mount(tb testing.TB) string {
	tb.Helper()
	ms, _ := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	for _, m := range ms {
		if f, err := os.OpenFile(filepath.Join(m.Mountpoint, "cgroup.procs"), os.O_WRONLY, 0); err == nil {
			f.Close()
			return m.Mountpoint
		}
	}
	tb.Skip("no writable cgroup2 mount")
	return ""
}

// testCgroup makes a child cgroup with n sleeping processes in it, the
// stand-in for a container's cgroup namespace root.
func testCgroup(tb testing.TB, n int) (string, []*exec.Cmd) {
	tb.Helper()
	root := cgroup2Mount(tb)
	cg := filepath.Join(root, fmt.Sprintf("kprobe-shims-test-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		tb.Fatal(err)
	}
	var procs []*exec.Cmd
	tb.Cleanup(func() {
		for _, c := range procs {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		// Processes left in init/ or cg: move them out before rmdir.
		for _, d := range []string{filepath.Join(cg, EvacuationChild), cg} {
			pids, _ := readPids(d)
			for _, p := range pids {
				_ = pcgroups.WriteFile(filepath.Join(root, "cgroup.procs"), strconv.Itoa(p))
			}
		}
		_ = os.Remove(filepath.Join(cg, EvacuationChild))
		if err := os.Remove(cg); err != nil {
			tb.Errorf("remove test cgroup: %v", err)
		}
	})
	for i := 0; i < n; i++ {
		c := exec.Command("sleep", "600")
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		must(tb, c.Start())
		procs = append(procs, c)
		must(tb, pcgroups.WriteFile(filepath.Join(cg, "cgroup.procs"), strconv.Itoa(c.Process.Pid)))
	}
	return cg, procs
}

func TestCgroupEvacuate(t *testing.T) {
	needRoot(t)
	cg, procs := testCgroup(t, 3)
	pidsBefore, _ := readPids(cg)
	ctrlBefore, _ := pcgroups.ReadList(filepath.Join(cg, "cgroup.subtree_control"))
	if len(pidsBefore) != len(procs) {
		t.Fatalf("test cgroup has %v", pidsBefore)
	}
	env := &Env{CgroupRoot: cg}
	idempotent(t, "cgroup-evacuate", env, func() {
		if p, _ := readPids(cg); len(p) != 0 {
			t.Errorf("%s still has %v", cg, p)
		}
		if p, _ := readPids(filepath.Join(cg, EvacuationChild)); len(p) != len(procs) {
			t.Errorf("init has %v, want %d processes", p, len(procs))
		}
		ctrls, _ := pcgroups.ReadList(filepath.Join(cg, "cgroup.controllers"))
		on, _ := pcgroups.ReadList(filepath.Join(cg, "cgroup.subtree_control"))
		if !reflect.DeepEqual(ctrls, on) {
			t.Errorf("subtree_control %v, want every controller %v", on, ctrls)
		}
	})
	pidsAfter, _ := readPids(cg)
	sort.Ints(pidsBefore)
	sort.Ints(pidsAfter)
	if !reflect.DeepEqual(pidsBefore, pidsAfter) {
		t.Errorf("processes after undo %v, want %v", pidsAfter, pidsBefore)
	}
	if ctrl, _ := pcgroups.ReadList(filepath.Join(cg, "cgroup.subtree_control")); !reflect.DeepEqual(ctrl, ctrlBefore) {
		t.Errorf("subtree_control after undo %v, want %v", ctrl, ctrlBefore)
	}
	if _, err := os.Stat(filepath.Join(cg, EvacuationChild)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("init cgroup after undo: %v", err)
	}
}

// TestCgroupEvacuateControllers gives the test cgroup a controller, so the
// no-internal-process rule bites: it enables hugetlb in the cgroup2 root's
// subtree_control for a moment (restored after), which other processes on
// the host can see. Opt-in: KPROBE_SHIMS_TEST_HOST_CGROUP=1.
func TestCgroupEvacuateControllers(t *testing.T) {
	needRoot(t)
	if os.Getenv("KPROBE_SHIMS_TEST_HOST_CGROUP") != "1" {
		t.Skip("changes the host's cgroup2 root subtree_control; set KPROBE_SHIMS_TEST_HOST_CGROUP=1")
	}
	root := cgroup2Mount(t)
	ctrls, _ := pcgroups.ReadList(filepath.Join(root, "cgroup.controllers"))
	on, _ := pcgroups.ReadList(filepath.Join(root, "cgroup.subtree_control"))
	if len(ctrls) == 0 {
		t.Skip("no controller on cgroup2")
	}
	c := ctrls[0]
	if !contains(on, c) {
		must(t, pcgroups.WriteFile(filepath.Join(root, "cgroup.subtree_control"), "+"+c))
		t.Cleanup(func() {
			if err := pcgroups.WriteFile(filepath.Join(root, "cgroup.subtree_control"), "-"+c); err != nil {
				t.Errorf("restore %s subtree_control: %v", root, err)
			}
		})
	}
	cg, _ := testCgroup(t, 2)
	// The rule itself: with processes in cg, enabling fails.
	err := pcgroups.WriteFile(filepath.Join(cg, "cgroup.subtree_control"), "+"+c)
	if !errors.Is(err, unix.EBUSY) {
		t.Fatalf("enable %s with processes inside: %v, want EBUSY", c, err)
	}
	t.Logf("enable %s with processes inside %s: %v (the no-internal-process rule)", c, cg, err)
	a := apply(t, "cgroup-evacuate", &Env{CgroupRoot: cg})
	t.Logf("%v", a.Notes)
	if got, _ := pcgroups.ReadList(filepath.Join(cg, "cgroup.subtree_control")); !contains(got, c) {
		t.Errorf("subtree_control %v after evacuation, want %s", got, c)
	}
	undo(t, a)
	if got, _ := pcgroups.ReadList(filepath.Join(cg, "cgroup.subtree_control")); contains(got, c) {
		t.Errorf("subtree_control %v after undo", got)
	}
	if p, _ := readPids(cg); len(p) != 2 {
		t.Errorf("processes back in %s: %v", cg, p)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestCgroupEvacuateNotV2(t *testing.T) {
	_, err := Must("cgroup-evacuate").Apply(context.Background(), &Env{CgroupRoot: t.TempDir()})
	if !errors.Is(err, ErrNotApplicable) {
		t.Errorf("on a plain directory: %v, want ErrNotApplicable", err)
	}
}

// fakeRuntime writes a runtime that records its arguments and the spec it
// was given, next to itself.
func fakeRuntime(tb testing.TB, dir string) string {
	tb.Helper()
	p := filepath.Join(dir, "fake-runc")
	script := "#!/bin/sh\necho \"$@\" > " + dir + "/args\n" +
		"for a; do [ \"$prev\" = --bundle ] && cp \"$a/config.json\" " + dir + "/seen.json; prev=$a; done\nexit 0\n"
	must(tb, os.WriteFile(p, []byte(script), 0o755))
	return p
}

const bundleSpec = `{"ociVersion":"1.0.2","process":{"cwd":"/","args":["sh"],"oomScoreAdj":-998},
"root":{"path":"rootfs"},"mounts":[{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup"}],
"linux":{"namespaces":[{"type":"pid"},{"type":"cgroup"},{"type":"mount"}],"cgroupsPath":"/k8s.io/abc",
"resources":{"memory":{"limit":1000000}},"sysctl":{"net.ipv4.ip_unprivileged_port_start":"0"}}}`

func TestRuntimeWrapperEndToEnd(t *testing.T) {
	dir := t.TempDir()
	rt := fakeRuntime(t, dir)
	state := filepath.Join(dir, "state")
	o := WrapperOptions{CgroupNS: Drop, OOMScoreAdj: Drop, Sysctls: Keep, IgnoreCgroups: true, RuntimeFlags: []string{"--debug"}}
	env := &Env{StateDir: state, Runtime: rt, WrapperCommand: []string{os.Args[0], WrapperSubcommand}, Wrapper: &o}
	files := tree(t, dir)
	a := apply(t, "runtime-wrapper", env)
	wrapper := a.Outputs["runtime"]
	if wrapper != filepath.Join(state, "bin", "runc") {
		t.Fatalf("wrapper at %q", wrapper)
	}
	bundle := filepath.Join(dir, "bundle")
	must(t, os.MkdirAll(bundle, 0o755))
	must(t, os.WriteFile(filepath.Join(bundle, "config.json"), []byte(bundleSpec), 0o600))
	out, err := exec.Command(wrapper, "--root", "/run/x", "--log", "/dev/null", "create", "--bundle", bundle, "--pid-file", "p", "ctr1").CombinedOutput()
	if err != nil {
		t.Fatalf("wrapper: %v\n%s", err, out)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if got, want := strings.TrimSpace(string(args)), "--debug --root /run/x --log /dev/null create --bundle "+bundle+" --pid-file p ctr1"; got != want {
		t.Errorf("runtime got %q, want %q", got, want)
	}
	seen, _ := os.ReadFile(filepath.Join(dir, "seen.json"))
	for _, gone := range []string{`"cgroup"`, "oomScoreAdj", "cgroupsPath", `"resources"`} {
		if strings.Contains(string(seen), gone) {
			t.Errorf("the runtime's spec still has %s: %s", gone, seen)
		}
	}
	if !strings.Contains(string(seen), "ip_unprivileged_port_start") {
		t.Errorf("sysctls=keep dropped the sysctl: %s", seen)
	}
	if fi, _ := os.Stat(filepath.Join(bundle, "config.json")); fi.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v, want 0600", fi.Mode().Perm())
	}
	logb, _ := os.ReadFile(filepath.Join(state, "runtime-wrapper.log"))
	if !strings.Contains(string(logb), "ctr1: dropped the cgroup namespace") {
		t.Errorf("wrapper log: %s", logb)
	}
	// Other subcommands pass through untouched.
	if out, err := exec.Command(wrapper, "state", "ctr1").CombinedOutput(); err != nil {
		t.Fatalf("state: %v %s", err, out)
	}
	if b := apply(t, "runtime-wrapper", env); !b.Empty() {
		t.Errorf("second apply: %+v", b.Steps)
	}
	must(t, os.Remove(filepath.Join(state, "runtime-wrapper.log")))
	must(t, os.RemoveAll(bundle))
	for _, f := range []string{"args", "seen.json"} {
		os.Remove(filepath.Join(dir, f))
	}
	undo(t, a)
	same(t, "files", files, tree(t, dir))
}

func TestApplyAllRollsBack(t *testing.T) {
	dir := t.TempDir()
	files := tree(t, dir)
	mountFn = func(string, string, string, uintptr, string) error { return unix.EPERM }
	defer func() { mountFn = unix.Mount }()
	_, err := ApplyAll(context.Background(), &Env{Kmsg: filepath.Join(dir, "kmsg")}, []string{"kmsg", "no-such-shim"})
	if err == nil {
		t.Fatal("want an error for an unknown shim")
	}
	same(t, "files", files, tree(t, dir))
}

// TestUndoFromAnotherNamespace: a journal of mounts made in a namespace
// that is gone is undone by skipping them; one still held is refused.
func TestUndoFromAnotherNamespace(t *testing.T) {
	a := &Applied{Shim: "rshared", MountNS: "mnt:[1]", Steps: []Step{{Op: "mount", Path: "/nowhere", MountID: 99999, NS: true}}}
	if err := a.Undo(context.Background()); err != nil || len(a.Steps) != 0 {
		t.Fatalf("gone namespace: %v, left %v", err, a.Steps)
	}
	self := currentMountNS()
	if self == "" {
		t.Skip("no /proc/self/ns/mnt")
	}
	// Pretend the journal comes from our namespace as seen from another:
	// the holder (us) is found.
	if err := nsGone(self); !errors.Is(err, ErrNamespaceInUse) {
		t.Errorf("nsGone(own namespace) = %v, want ErrNamespaceInUse", err)
	}
}

// TestUndoWaitsForAnExitingHolder: stop undoes a shim's journal right
// after signalling the cluster's processes; a holder of the shim's mount
// namespace that exits a moment later must not fail the undo (it did once
// in a benchmark's stop --purge).
func TestUndoWaitsForAnExitingHolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a mount namespace")
	}
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "0.5")
	if err := holder.Start(); err != nil {
		t.Skip("unshare:", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- holder.Wait() }()
	var ns string
	for i := 0; i < 100 && (ns == "" || ns == currentMountNS()); i++ {
		ns, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid))
		time.Sleep(5 * time.Millisecond)
	}
	if ns == "" || ns == currentMountNS() {
		t.Skip("the holder's mount namespace was not seen")
	}
	a := &Applied{Shim: "rshared", MountNS: ns, Steps: []Step{{Op: "mount", Path: "/nowhere", MountID: 99999, NS: true}}}
	if err := a.Undo(context.Background()); err != nil || len(a.Steps) != 0 {
		t.Fatalf("undo while the holder exits: %v, left %v", err, a.Steps)
	}
	<-exited
}

func TestUndoKeepsFailedSteps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d")
	must(t, os.Mkdir(p, 0o755))
	a := &Applied{Shim: "x"}
	created(a, "mkdir", p, "")
	must(t, os.WriteFile(filepath.Join(p, "someone-elses"), nil, 0o600))
	if err := a.Undo(context.Background()); err == nil || len(a.Steps) != 1 {
		t.Fatalf("undo of a non-empty dir: %v, steps %v", err, a.Steps)
	}
	must(t, os.Remove(filepath.Join(p, "someone-elses")))
	if err := a.Undo(context.Background()); err != nil || len(a.Steps) != 0 {
		t.Fatalf("retry: %v, steps %v", err, a.Steps)
	}
	// A path replaced by another file is not removed.
	f := filepath.Join(dir, "f")
	must(t, os.WriteFile(f, nil, 0o600))
	b := &Applied{}
	created(b, "file", f, "")
	// The replacement exists alongside first, so it has another inode.
	must(t, os.WriteFile(f+".new", []byte("new"), 0o600))
	must(t, os.Rename(f+".new", f))
	undo(t, b)
	if _, err := os.Stat(f); err != nil {
		t.Errorf("someone else's file was removed: %v", err)
	}
}

// TestCgroupEvacuateInCgroupNS is the container case end to end: a process
// in a cgroup namespace whose root is a fresh cgroup, with cgroup2 mounted
// on /sys/fs/cgroup in its private mount namespace, applies the shim with
// the default Env and undoes it (cgnsChild).
func TestCgroupEvacuateInCgroupNS(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/proc/self/ns/cgroup"); err != nil {
		t.Skip("no cgroup namespaces")
	}
	root := cgroup2Mount(t)
	cg := filepath.Join(root, fmt.Sprintf("kprobe-shims-cgns-%d", os.Getpid()))
	must(t, os.Mkdir(cg, 0o755))
	defer func() {
		if err := os.Remove(cg); err != nil {
			t.Errorf("remove %s: %v (left: %v)", cg, err, tree(t, cg))
		}
	}()
	dir, err := os.Open(cg)
	must(t, err)
	defer dir.Close()
	c := exec.Command(os.Args[0], "shims-test-cgns")
	c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWCGROUP,
		UseCgroupFD: true, CgroupFD: int(dir.Fd()), Pdeathsig: syscall.SIGKILL}
	out, err := c.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
}

// cgnsChild runs in the new cgroup and mount namespaces.
func cgnsChild() int {
	fail := func(f string, a ...any) int { fmt.Printf("FAIL: "+f+"\n", a...); return 1 }
	if err := PrivateNS(); err != nil {
		return fail("%v", err)
	}
	if err := unix.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, ""); err != nil {
		return fail("mount cgroup2: %v", err)
	}
	sleeper := exec.Command("sleep", "600")
	if err := sleeper.Start(); err != nil {
		return fail("%v", err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	pids, _ := readPids("/sys/fs/cgroup")
	fmt.Printf("before: /proc/self/cgroup %q, root procs %v\n", unifiedCgroup(), pids)
	a, err := Must("cgroup-evacuate").Apply(context.Background(), &Env{})
	if err != nil {
		return fail("apply: %v", err)
	}
	fmt.Printf("applied: %v\n", a.Notes)
	if self := unifiedCgroup(); self != "/init" {
		return fail("/proc/self/cgroup after: %q", self)
	}
	if p, _ := readPids("/sys/fs/cgroup"); len(p) != 0 {
		return fail("root still has %v", p)
	}
	// The kubelet's test: a child cgroup with the controllers enabled.
	if err := os.Mkdir("/sys/fs/cgroup/kubepods", 0o755); err != nil {
		return fail("mkdir kubepods: %v", err)
	}
	if err := os.Remove("/sys/fs/cgroup/kubepods"); err != nil {
		return fail("rmdir kubepods: %v", err)
	}
	if err := a.Undo(context.Background()); err != nil {
		return fail("undo: %v", err)
	}
	after, _ := readPids("/sys/fs/cgroup")
	fmt.Printf("after undo: /proc/self/cgroup %q, root procs %v\n", unifiedCgroup(), after)
	if unifiedCgroup() != "/" || len(after) != len(pids) {
		return fail("not restored")
	}
	if _, err := os.Stat("/sys/fs/cgroup/init"); !errors.Is(err, os.ErrNotExist) {
		return fail("init left: %v", err)
	}
	return 0
}

// unifiedCgroup is this process's cgroup v2 path ("0::" line).
func unifiedCgroup() string {
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}

// gVisor lists its root mount as its own parent; it must not count as
// covered, or the rshared shim leaves / private there (the kubelet then
// fails "failed to make .../kubelet/root rshared: invalid argument").
func TestCoveredMountsGVisorRoot(t *testing.T) {
	ms := []*mountinfo.Info{
		{ID: 10, Parent: 10, Mountpoint: "/"},
		{ID: 11, Parent: 10, Mountpoint: "/sys"},
		{ID: 12, Parent: 10, Mountpoint: "/dev"},
		{ID: 49, Parent: 12, Mountpoint: "/dev"}, // covers 12
	}
	got := coveredMounts(ms)
	if got[10] || got[11] || got[49] || !got[12] {
		t.Errorf("covered %v, want only 12", got)
	}
}
