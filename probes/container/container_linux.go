//go:build linux

package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"

	// Device rules in the devices cgroup, as runc sets them.
	_ "github.com/opencontainers/cgroups/devices"

	"github.com/kprobe/kprobe/probes"
	pcgroups "github.com/kprobe/kprobe/probes/cgroups"
)

// InitIfChild runs libcontainer's container init ("runc init") when this
// process is the init of a container that Run started, and then never
// returns. libcontainer re-executes the running binary as
// `<os.Args[0]> init` with _LIBCONTAINER_INITPIPE set; main and TestMain
// must call InitIfChild first, before reexec.Init (os.Args[0] is still a
// registered re-exec name in that process).
func InitIfChild() {
	if len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv("_LIBCONTAINER_INITPIPE") != "" {
		libcontainer.Init() // never returns
	}
}

// Available reports whether this binary can start containers: libcontainer
// needs its nsenter C constructor, so kprobe must be built with cgo.
func Available() bool { return haveNsenter }

// exeInRootfs is where the running binary appears in the container; with
// PATH=/ the process argv[0] "kprobe-op" resolves to it, and reexec.Init
// dispatches on that name.
const exeInRootfs = "/kprobe-op"

// Run tries each configuration in turn, destroying every container it
// creates.
func (Probe) Run(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	attempts := make([]Attempt, 0, len(Modes))
	var try func(mode string, notes *probes.Observation) Attempt
	var err error
	if !haveNsenter {
		err = errors.New("kprobe was built without cgo: libcontainer's nsenter is missing, no container can be started")
		o.Note("libcontainer", err.Error(), nil)
	} else if rootfs, exe, perr := prepare(env.TempDir, o); perr != nil {
		err = perr
	} else {
		stateRoot := filepath.Join(filepath.Dir(rootfs), "state")
		defer os.RemoveAll(stateRoot)
		try = func(mode string, notes *probes.Observation) Attempt {
			return run(ctx, stateRoot, newConfig(mode, rootfs, exe), notes)
		}
	}
	// The configurations start at once: most of a container's start is
	// the kernel making and tearing down its namespaces (waiting, not
	// CPU), which one after another costs three times over. Each attempt
	// notes into its own observation; they are recorded in the order of
	// Modes, as if tried in turn.
	type outcome struct {
		a     Attempt
		notes *probes.Observation
	}
	chain := subtreeChain()
	before := readSubtrees(chain)
	pending := make([]chan outcome, len(Modes))
	for i, mode := range Modes {
		if err != nil || ctx.Err() != nil {
			continue
		}
		pending[i] = make(chan outcome, 1)
		go func() {
			notes := probes.NewObservation()
			pending[i] <- outcome{try(mode, notes), notes}
		}()
	}
	for i, mode := range Modes {
		var a Attempt
		switch {
		case err != nil:
			a = Attempt{Result: probes.Unknown, Err: err}
		case pending[i] == nil:
			a = Attempt{Result: probes.Unknown, Err: ctx.Err()}
			note(o, "libcontainer "+mode, "not attempted", ctx.Err())
		default:
			r := <-pending[i]
			a = r.a
			o.Evidence = append(o.Evidence, r.notes.Evidence...)
			if a.Result == probes.Yes {
				o.Note("libcontainer "+mode, fmt.Sprintf("printed %q in %s (%s); cgroups: %s",
					a.Output, roundMS(a.Took), a.phases, a.cgroups), nil)
			} else {
				note(o, "libcontainer "+mode, errText(a.Err), a.Err)
			}
		}
		a.Mode = mode
		attempts = append(attempts, a)
	}
	if err == nil {
		restoreSubtrees(before, chain, o)
	}
	var usernsErr error
	if attempts[0].Result == probes.No && attempts[1].Result == probes.No && attempts[2].Result == probes.No {
		usernsErr = trySpawnUserns(ctx)
		excerpt := "works"
		if usernsErr != nil {
			excerpt = errText(usernsErr)
		}
		note(o, "clone(CLONE_NEWUSER) with uid_map 0 -> our uid", excerpt, usernsErr)
	}
	Judge(o, attempts, usernsErr)
	return o, nil
}

// prepare builds the container's rootfs in tmp, with every mount point
// newConfig names (makeMountPoints); the library directories of a
// dynamically linked binary are mirrored (symlinks copied, directories
// bind-mounted by newConfig).
func prepare(tmp string, o *probes.Observation) (rootfs string, exe exeMounts, err error) {
	if tmp == "" {
		return "", exe, errors.New("no temp dir for the rootfs")
	}
	// The binary is bind-mounted into the container: it must still be
	// on disk (os.Executable strips the " (deleted)" of a replaced one).
	path, err := os.Executable()
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		o.Note("os.Executable", "", err)
		return "", exe, err
	}
	exe.binary = path
	// libcontainer refuses a rootfs path with symlinks in it.
	tmp, err = filepath.EvalSymlinks(tmp)
	if err != nil {
		o.Note(tmp, "", err)
		return "", exe, err
	}
	rootfs = filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		o.Note(rootfs, "mkdir", err)
		return "", exe, err
	}
	dynamic, err := isDynamic(path)
	if err != nil {
		o.Note(path, "reading the ELF header", err)
		return "", exe, err
	}
	if dynamic {
		if err := mirrorLibDirs(rootfs, &exe, o); err != nil {
			return "", exe, err
		}
	}
	if err := makeMountPoints(rootfs, exe); err != nil {
		o.Note(rootfs, "making the mount points", err)
		return "", exe, err
	}
	return rootfs, exe, nil
}

// makeMountPoints creates in rootfs the directory or file each of
// newConfig's mounts lands on. The configurations share this rootfs and
// start at once, and libcontainer creates a missing mount point with
// O_EXCL in the rootfs itself: two of them racing for /kprobe-op failed
// one with "openat kprobe-op: file exists" (seen in the cgroup v2 VM,
// where starts are slow). Made here, before any starts, none is missing.
func makeMountPoints(rootfs string, exe exeMounts) error {
	for _, m := range newConfig(ModeFull, rootfs, exe).Mounts {
		dst := filepath.Join(rootfs, m.Destination)
		if m.Destination != exeInRootfs {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			continue
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// mirrorLibDirs copies the library directories' symlinks into rootfs and
// adds the real directories to exe.libs, for newConfig to bind-mount.
func mirrorLibDirs(rootfs string, exe *exeMounts, o *probes.Observation) error {
	for _, dir := range libDirs {
		fi, err := os.Lstat(dir)
		if err != nil {
			continue
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(dir)
			if err == nil {
				dst := filepath.Join(rootfs, dir)
				if err = os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
					err = os.Symlink(target, dst)
				}
			}
			if err != nil {
				o.Note(dir, "mirroring the library symlink into the rootfs", err)
				return err
			}
		case fi.IsDir():
			exe.libs = append(exe.libs, dir)
		}
	}
	return nil
}

// libDirs are where a dynamic loader and libc live, merged /usr or not.
var libDirs = []string{"/lib", "/lib64", "/lib32", "/libx32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32"}

// exeMounts is what the rootfs borrows from the host, read-only.
type exeMounts struct {
	binary string
	libs   []string
}

func isDynamic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true, nil
		}
	}
	return false, nil
}

// newConfig is the container of one configuration: the namespaces, caps
// and devices of `runc spec`, a proc and a /dev tmpfs, no rlimits and no
// oom_score_adj (raising them needs CAP_SYS_RESOURCE).
func newConfig(mode, rootfs string, exe exeMounts) *configs.Config {
	const ro = unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV
	mounts := []*configs.Mount{
		{Source: "proc", Destination: "/proc", Device: "proc", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV},
		{Source: "tmpfs", Destination: "/dev", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
		{Source: exe.binary, Destination: exeInRootfs, Device: "bind", Flags: ro},
	}
	for _, dir := range exe.libs {
		mounts = append(mounts, &configs.Mount{Source: dir, Destination: dir, Device: "bind", Flags: ro})
	}
	rules, nodes := defaultDevices()
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	c := &configs.Config{
		Rootfs:   rootfs,
		Hostname: "kprobe",
		Namespaces: configs.Namespaces{
			{Type: configs.NEWNS}, {Type: configs.NEWPID}, {Type: configs.NEWIPC},
			{Type: configs.NEWUTS}, {Type: configs.NEWNET},
		},
		Capabilities: &configs.Capabilities{
			Bounding: caps, Effective: caps, Permitted: caps,
		},
		NoNewPrivileges:   true,
		ParentDeathSignal: int(unix.SIGKILL),
		Mounts:            mounts,
		Devices:           nodes,
		MaskPaths:         []string{"/proc/kcore", "/proc/keys", "/proc/timer_list"},
		ReadonlyPaths:     []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"},
		Cgroups: &cgroups.Cgroup{
			// Relative: created under our own cgroup, as runc does
			// without a cgroupsPath.
			Name:      "kprobe-" + mode + "-" + uniq(),
			Resources: &cgroups.Resources{Devices: rules},
		},
	}
	if mode == ModeFull {
		return c
	}
	// runc's rootless cgroup handling: EPERM, EACCES and EROFS from
	// cgroupfs are tolerated and the controller is left out.
	c.RootlessCgroups = true
	c.Cgroups.Rootless = true
	if mode == ModeRootless {
		c.Namespaces = append(c.Namespaces, configs.Namespace{Type: configs.NEWUSER})
		c.UIDMappings = []configs.IDMap{{ContainerID: 0, HostID: int64(os.Geteuid()), Size: 1}}
		c.GIDMappings = []configs.IDMap{{ContainerID: 0, HostID: int64(os.Getegid()), Size: 1}}
		c.RootlessEUID = os.Geteuid() != 0
	}
	return c
}

// defaultDevices are the device nodes and cgroup rules runc gives every
// container (specconv.AllowedDevices, which needs cgo to import): mknod of
// anything, and null, zero, full, random, urandom and tty.
func defaultDevices() (rules []*devconfig.Rule, nodes []*devconfig.Device) {
	const w = devconfig.Wildcard
	rules = []*devconfig.Rule{
		{Type: devconfig.CharDevice, Major: w, Minor: w, Permissions: "m", Allow: true},
		{Type: devconfig.BlockDevice, Major: w, Minor: w, Permissions: "m", Allow: true},
	}
	for _, n := range []struct {
		path         string
		major, minor int64
	}{
		{"/dev/null", 1, 3}, {"/dev/zero", 1, 5}, {"/dev/full", 1, 7},
		{"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
	} {
		d := &devconfig.Device{Path: n.path, FileMode: 0o666, Rule: devconfig.Rule{
			Type: devconfig.CharDevice, Major: n.major, Minor: n.minor, Permissions: "rwm", Allow: true}}
		rules = append(rules, &d.Rule)
		nodes = append(nodes, d)
	}
	return rules, nodes
}

// Sweep implements probes.Sweeper: the cgroups of the containers a child
// created (kprobe-MODE-PID-*, below the cgroup the child started in) and
// the container inits still running in them, when the child was killed
// before it could destroy them.
func (Probe) Sweep(childPID int, env *probes.Env) ([]string, error) {
	return pcgroups.SweepNamed(env, func(name string) bool {
		for _, mode := range Modes {
			if strings.HasPrefix(name, fmt.Sprintf("kprobe-%s-%d-", mode, childPID)) {
				return true
			}
		}
		return false
	})
}

// uniq names a container after the process that creates it (the probe
// child), so that the scan can find what a killed child left.
func uniq() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b))
}

// run creates, starts, waits for and destroys one container.
func run(ctx context.Context, stateRoot string, cfg *configs.Config, o *probes.Observation) (a Attempt) {
	t0 := time.Now()
	var started, exited time.Duration
	c, err := libcontainer.Create(stateRoot, cfg.Cgroups.Name, cfg)
	if err != nil {
		return Attempt{Result: probes.No, Err: fmt.Errorf("create: %w", err), Took: time.Since(t0)}
	}
	defer func() {
		t := time.Now()
		destroy(c, o)
		a.Took = time.Since(t0)
		if exited > 0 {
			a.phases = fmt.Sprintf("started in %s, exited %s later, destroyed in %s",
				roundMS(started), roundMS(exited-started), roundMS(time.Since(t)))
		}
	}()
	var stdout, stderr bytes.Buffer
	p := &libcontainer.Process{
		Args:   []string{probes.OpName, "container.hello"},
		Env:    []string{"PATH=/"},
		Cwd:    "/",
		Stdout: &stdout,
		Stderr: &stderr,
		Init:   true,
	}
	if err := c.Run(p); err != nil {
		return Attempt{Result: probes.No, Err: err}
	}
	started = time.Since(t0)
	joined := describeCgroups(cgroupPaths(c))
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait()
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = c.Signal(unix.SIGKILL)
		<-done
		return Attempt{Result: probes.Unknown, Err: fmt.Errorf("container did not exit: %w", ctx.Err())}
	}
	exited = time.Since(t0)
	out := strings.TrimSpace(stdout.String())
	if err == nil && out == helloOK {
		return Attempt{Result: probes.Yes, Output: out, cgroups: joined}
	}
	if rest, ok := strings.CutPrefix(out, "ERR "); ok {
		return Attempt{Result: probes.No, Err: fmt.Errorf("container process: %s", rest), Output: out}
	}
	msg := fmt.Sprintf("container process printed %q", out)
	if err != nil {
		msg += ", " + err.Error()
	}
	if e := strings.TrimSpace(stderr.String()); e != "" {
		msg += ": " + lastLine(e)
	}
	return Attempt{Result: probes.No, Err: errors.New(msg), Output: out}
}

func roundMS(d time.Duration) time.Duration {
	if d > time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// destroy removes the container, its cgroups and state dir, and checks
// that the cgroups are really gone.
func destroy(c *libcontainer.Container, o *probes.Observation) {
	paths := cgroupPaths(c)
	err := c.Destroy()
	if err != nil {
		// Still running (the wait was cut short): kill it and retry.
		_ = c.Signal(unix.SIGKILL)
		for i := 0; i < 50 && err != nil; i++ {
			time.Sleep(10 * time.Millisecond)
			err = c.Destroy()
		}
	}
	if err != nil {
		o.Note("libcontainer destroy "+c.ID(), "", err)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			rerr := os.Remove(p)
			o.Note(p, "cgroup left behind by destroy; removed", rerr)
		}
	}
}

// cgroupPaths are the cgroups the container's manager holds: for v1 one
// per controller it could create or join.
func cgroupPaths(c *libcontainer.Container) map[string]string {
	st, err := c.State()
	if err != nil {
		return nil
	}
	return st.CgroupPaths
}

// describeCgroups summarises the cgroup paths that exist as "name
// (controllers)". The manager also lists the named hierarchies it failed
// to join (it ignores those errors), so existence is what counts.
func describeCgroups(paths map[string]string) string {
	var ctrls []string
	name := ""
	for k, p := range paths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if k == "" {
			k = "unified"
		}
		ctrls = append(ctrls, k)
		name = filepath.Base(p)
	}
	if len(ctrls) == 0 {
		return "none"
	}
	sort.Strings(ctrls)
	return name + " (" + strings.Join(ctrls, ",") + ")"
}

// trySpawnUserns creates a bare user namespace mapping root to our uid,
// which is what rootless k3s (rootlesskit) needs first.
func trySpawnUserns(ctx context.Context) error {
	attr := &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
	}
	_, err := probes.SpawnOp(ctx, attr, "container.userns")
	return err
}
