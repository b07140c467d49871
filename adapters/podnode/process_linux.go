package podnode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/capability"
	"github.com/moby/sys/reexec"
	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/adapters/bindtrace"
	"github.com/kprobe/kprobe/probes/procfs"
)

// initName is the re-exec name of the container init helper: the agent
// starts it in the container's new namespaces; it makes the mounts, changes
// the root and credentials, then execs the container's command.
const initName = "kprobe-podnode-init"

// RegisterInit registers the container init helper with reexec; call it
// before reexec.Init in main.
func RegisterInit() {
	reexec.Register(initName, initMain)
	reexec.Register(bindCheckName, bindCheckMain)
}

// procSpec is what the init helper does before it execs argv.
type procSpec struct {
	Mode     Isolation   `json:"mode"`
	Root     string      `json:"root,omitempty"`  // the new "/" (not for IsolationNone)
	NewNS    bool        `json:"newNS,omitempty"` // userns: the container's first process makes its mounts
	Mounts   []bindMount `json:"mounts,omitempty"`
	Hostname string      `json:"hostname,omitempty"`
	Dir      string      `json:"dir,omitempty"`
	Argv     []string    `json:"argv"`
	Env      []string    `json:"env"`
	UID      int64       `json:"uid"` // -1: keep
	GID      int64       `json:"gid"`
	Probe    bool        `json:"probe,omitempty"` // set everything up, then exit 0 instead of exec
	// OwnAddr, when set, is the pod's own loopback address: the command
	// runs under adapters/bindtrace, which rewrites its binds to all
	// addresses or loopback, and its connects to loopback, to it.
	OwnAddr string `json:"ownAddr,omitempty"`
	// Keep are loopback addresses and ports whose connects are not
	// rewritten: the API server and a resolver the pod is given there.
	Keep []netip.AddrPort `json:"keep,omitempty"`
	// RootFD is Root opened by the agent, passed as this fd: an exec into
	// a userns container chroots through it (see startProcess).
	RootFD int `json:"rootFD,omitempty"`
	// Exe is the file to exec when it is not Argv[0] (the bind probe).
	Exe string `json:"exe,omitempty"`
	// DropAmbient: the helper got ambient capabilities to set up an
	// unmapped user namespace; the command gets none.
	DropAmbient bool `json:"dropAmbient,omitempty"`
}

// bindMount is a host path made visible at Target inside the root.
type bindMount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// unmappedUserNS is set by ChooseIsolation where a user namespace can be
// made but no uid map written in it: mapping the sandbox's root needs
// CAP_SETFCAP since Linux 5.12, and runc --rootless maps root alone. The
// process is then the overflow uid (65534) in its namespace, which owns
// its mount, pid, uts and ipc namespaces; an exec would drop the
// namespace's capabilities (its uid is not 0), so the helper gets those it
// needs as ambient ones. Files keep the agent's uid underneath.
var unmappedUserNS atomic.Bool

// inUnmappedUserNS reports whether containers run in user namespaces
// without a uid map.
func inUnmappedUserNS() bool { return unmappedUserNS.Load() && !hasCapSysAdmin() }

// helperCaps are the capabilities the init helper uses in an unmapped user
// namespace: mounts and the hostname, and chroot.
var helperCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SYS_CHROOT}

// hasCapSysAdmin reports whether the agent can make mount namespaces and
// mounts without a user namespace of its own.
func hasCapSysAdmin() bool { return procfs.SelfHasCap(capability.CAP_SYS_ADMIN) }

// process is one started container or exec process.
type process struct {
	cmd   *exec.Cmd
	group bool // signal the process group (chroot, none), not only the pid
}

// startProcess starts the init helper for spec with the given stdio; when
// tty is set the process gets it as its controlling terminal.
func startProcess(spec procSpec, stdin io.Reader, stdout, stderr io.Writer, tty *os.File) (*process, error) {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	needUser := !hasCapSysAdmin()
	p := &process{}
	var rootFile *os.File // an exec's container root, opened by the agent
	switch {
	case spec.Mode == IsolationUserns && spec.NewNS:
		attr.Cloneflags = syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC
	case spec.Mode == IsolationUserns:
		// an exec into a running container: chroot into its root as seen
		// through /proc/PID/root. The agent owns the container's user
		// namespace, so the kernel lets it through the magic link, where
		// a helper in a sibling user namespace gets EACCES (seen in
		// podman-rootless): the agent opens that root itself and passes it
		// as fd 3, and the helper makes a user namespace of its own only
		// where the agent lacks CAP_SYS_CHROOT.
		needUser = !procfs.SelfHasCap(capability.CAP_SYS_CHROOT)
		if f, err := os.OpenFile(spec.Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			defer f.Close()
			rootFile = f
			spec.RootFD = 3
		}
	default:
		needUser = false
	}
	if spec.Mode == IsolationUserns && needUser {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		if unmappedUserNS.Load() {
			attr.AmbientCaps = helperCaps
			spec.DropAmbient = true
		} else {
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
			attr.GidMappingsEnableSetgroups = false
		}
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := reexec.Command(initName, string(b))
	cmd.Env = []string{}
	if rootFile != nil {
		cmd.ExtraFiles = []*os.File{rootFile}
	}
	p.cmd = cmd
	if tty != nil {
		attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		p.group = spec.Mode != IsolationUserns || !spec.NewNS
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
		if !(spec.Mode == IsolationUserns && spec.NewNS) {
			attr.Setpgid = true
			p.group = true
		}
	}
	cmd.SysProcAttr = attr
	// an exec's client may hold stdin open after the process exits
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// signal sends sig to the process, or to its whole group.
func (p *process) signal(sig syscall.Signal) {
	pid := p.cmd.Process.Pid
	if p.group {
		_ = syscall.Kill(-pid, sig)
	}
	_ = syscall.Kill(pid, sig)
}

// signalGroup signals what is left of the process group once its leader
// has exited (chroot, none); with a pid namespace the kernel has already
// killed everything. The group id stays allocated while a member lives.
func (p *process) signalGroup(sig syscall.Signal) {
	if p.group {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// pid is the process id as the agent sees it.
func (p *process) pid() int { return p.cmd.Process.Pid }

// wait waits for the process and returns its exit code (128+signal when it
// was killed by a signal).
func (p *process) wait() (int, error) {
	err := p.cmd.Wait()
	st, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		return -1, err
	}
	if st.Signaled() {
		return 128 + int(st.Signal()), nil
	}
	return st.ExitStatus(), nil
}

// initMain is the init helper: it runs in the container's namespaces,
// prepares the root and execs the command. Errors go to stderr (the
// container's log) with exit code 128, as runtimes report a failed start.
func initMain() {
	var spec procSpec
	if len(os.Args) < 2 || json.Unmarshal([]byte(os.Args[1]), &spec) != nil {
		fmt.Fprintln(os.Stderr, "kprobe: bad container spec")
		os.Exit(128)
	}
	if err := setupAndExec(spec); err != nil {
		fmt.Fprintf(os.Stderr, "kprobe: container start: %v\n", err)
		os.Exit(128)
	}
	os.Exit(0)
}

func setupAndExec(spec procSpec) error {
	if spec.Mode == IsolationUserns && spec.NewNS {
		if err := setupMounts(spec); err != nil {
			return err
		}
		if spec.Hostname != "" {
			_ = unix.Sethostname([]byte(spec.Hostname))
		}
	}
	if spec.RootFD > 0 {
		if err := unix.Fchdir(spec.RootFD); err != nil {
			return fmt.Errorf("the container's root: %w", err)
		}
		_ = unix.Close(spec.RootFD)
		spec.Root = "."
	}
	if spec.Mode != IsolationNone {
		if err := unix.Chroot(spec.Root); err != nil {
			return fmt.Errorf("chroot %s: %w", spec.Root, err)
		}
		if err := os.Chdir("/"); err != nil {
			return err
		}
	}
	if spec.Dir != "" {
		if spec.Mode != IsolationNone {
			_ = os.MkdirAll(spec.Dir, 0o755)
		}
		if err := os.Chdir(spec.Dir); err != nil {
			return fmt.Errorf("workingDir: %w", err)
		}
	}
	if spec.Probe {
		return nil
	}
	if spec.GID >= 0 {
		_ = unix.Setgroups(nil)
		if err := unix.Setgid(int(spec.GID)); err != nil {
			return fmt.Errorf("runAsGroup %d: %w", spec.GID, err)
		}
	}
	if spec.UID >= 0 {
		if err := unix.Setuid(int(spec.UID)); err != nil {
			return fmt.Errorf("runAsUser %d: %w", spec.UID, err)
		}
	}
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	if spec.DropAmbient {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
			return fmt.Errorf("drop ambient capabilities: %w", err)
		}
	}
	if len(spec.Argv) == 0 {
		return errors.New("no command: the image has no entrypoint and the container no command")
	}
	path := spec.Argv[0]
	if spec.Exe != "" {
		path = spec.Exe
	}
	if !strings.Contains(path, "/") {
		found, err := lookPath(path, envValue(spec.Env, "PATH"))
		if err != nil {
			return err
		}
		path = found
	}
	if spec.OwnAddr != "" {
		own, err := netip.ParseAddr(spec.OwnAddr)
		if err != nil {
			return fmt.Errorf("pod address: %w", err)
		}
		// This helper stays as the command's parent and tracer.
		code, err := bindtrace.Exec(path, spec.Argv, spec.Env, own, spec.Keep)
		if err != nil {
			return fmt.Errorf("bind tracer: %w", err)
		}
		os.Exit(code)
	}
	return unix.Exec(path, spec.Argv, spec.Env)
}

// lookPath finds file in the PATH the container's environment gives.
func lookPath(file, pathEnv string) (string, error) {
	if pathEnv == "" {
		pathEnv = defaultPath
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		p := filepath.Join(dir, file)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
}

// setupMounts runs in the container's new mount namespace: volumes, the
// device nodes, /proc and /dev/shm inside the root.
func setupMounts(spec procSpec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		_ = unix.Mount("", "/", "", unix.MS_PRIVATE, "")
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		_ = bindInto(spec.Root, "/dev/"+name, "/dev/"+name, false)
	}
	// the terminal of an exec -it is a /dev/pts/N of the sandbox
	_ = bindInto(spec.Root, "/dev/pts", "/dev/pts", false)
	if shm, err := securejoin.SecureJoin(spec.Root, "/dev/shm"); err == nil {
		if os.MkdirAll(shm, 0o1777) == nil {
			_ = unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,size=65536k")
		}
	}
	for _, m := range spec.Mounts {
		if err := bindInto(spec.Root, m.Source, m.Target, m.ReadOnly); err != nil {
			return fmt.Errorf("volume at %s: %w", m.Target, err)
		}
	}
	proc, err := securejoin.SecureJoin(spec.Root, "/proc")
	if err != nil {
		return err
	}
	if os.MkdirAll(proc, 0o555) == nil {
		if unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "") != nil {
			// the sandbox's /proc (a fresh one is refused in a user
			// namespace where paths of /proc are masked); recursive, as
			// the masks are mounts a user namespace may not uncover
			_ = unix.Mount("/proc", proc, "", unix.MS_BIND|unix.MS_REC, "")
		}
	}
	return nil
}

// bindInto bind-mounts source at target inside root, creating the mount
// point (a file for a file) without following links out of the root.
func bindInto(root, source, target string, readOnly bool) error {
	st, err := os.Stat(source)
	if err != nil {
		return err
	}
	dst, err := securejoin.SecureJoin(root, target)
	if err != nil {
		return err
	}
	if st.IsDir() {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if _, err := os.Lstat(dst); err != nil {
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			f.Close()
		}
	}
	if err := unix.Mount(source, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", source, err)
	}
	if readOnly {
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|lockedFlags(dst), ""); err != nil {
			return fmt.Errorf("read-only %s: %w", target, err)
		}
	}
	return nil
}

// lockedFlags are the flags of the mount at path that a remount must
// repeat: in a user namespace the kernel refuses (EPERM) a remount that
// drops nosuid, nodev, noexec or an atime flag its creator set (bwrap
// binds with nosuid and nodev, so a read-only volume failed there).
func lockedFlags(path string) uintptr {
	var fs unix.Statfs_t
	if unix.Statfs(path, &fs) != nil {
		return 0
	}
	var flags uintptr
	for st, ms := range map[int64]uintptr{
		unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV, unix.ST_NOEXEC: unix.MS_NOEXEC,
		unix.ST_NOATIME: unix.MS_NOATIME, unix.ST_NODIRATIME: unix.MS_NODIRATIME, unix.ST_RELATIME: unix.MS_RELATIME,
	} {
		if int64(fs.Flags)&st != 0 {
			flags |= ms
		}
	}
	return flags
}

// fsSize is the size of the file system holding dir, 0 if unknown.
func fsSize(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0
	}
	return int64(st.Blocks) * st.Bsize
}

// openPTY opens a new pseudo-terminal pair.
func openPTY() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, os.NewFile(uintptr(sfd), name), nil
}

// resizePTY sets a terminal's size.
func resizePTY(master *os.File, cols, rows uint16) {
	_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows})
}

// makeDevNodes creates the basic device nodes in a root that gets no
// mounts (chroot), where mknod is allowed; errors are ignored (no node).
func makeDevNodes(root string) {
	nodes := []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}
	dev := filepath.Join(root, "dev")
	_ = os.MkdirAll(dev, 0o755)
	for _, n := range nodes {
		p := filepath.Join(dev, n.name)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		_ = unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor)))
		_ = os.Chmod(p, 0o666)
	}
}

// bindCheckName is the re-exec name of the program the bind probe runs
// under the tracer: it listens on all addresses and prints where it
// listens.
const bindCheckName = "kprobe-podnode-bindcheck"

func bindCheckMain() {
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(l.Addr())
	os.Exit(0)
}

// checkOwnBinds says whether pods' binds can be rewritten here: it runs a
// program that listens on all addresses under the tracer, as a pod's
// container runs, and expects it to listen on own. Sandboxes that refuse
// ptrace fail here.
func checkOwnBinds(own netip.Addr) error {
	if !bindtrace.Supported {
		return errors.New("the bind tracer supports linux/amd64 only")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	spec := procSpec{Mode: IsolationNone, Exe: exe, Argv: []string{bindCheckName}, UID: -1, GID: -1, OwnAddr: own.String()}
	var out bytes.Buffer
	p, err := startProcess(spec, nil, &out, &out, nil)
	if err != nil {
		return err
	}
	code, err := p.wait()
	if err != nil {
		return err
	}
	got := strings.TrimSpace(out.String())
	if code != 0 || !strings.HasPrefix(got, own.String()+":") {
		return fmt.Errorf("a traced listen on 0.0.0.0 gave %q (exit %d), not %s", got, code, own)
	}
	return nil
}
