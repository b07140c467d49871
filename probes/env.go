package probes

import (
	"context"
	"io/fs"
	"net/netip"
	"os"
	"time"

	"github.com/kprobe/kprobe/probes/bounded"
)

// Env is everything a probe may look at. Probes never touch the host
// directly: files through Root, everything else through Sys.
type Env struct {
	// Root is the filesystem rooted at "/": paths are relative, such as
	// "proc/self/mountinfo". In replay it is a captured fixture tree.
	Root fs.FS
	// Sys performs the observations that are not file reads.
	Sys Syscalls
	// DataDir is the directory the engine will write (k3s --data-dir).
	DataDir string
	// TempDir is a private scratch directory, set for active probes only.
	TempDir string
	// Active obtains the observation of an active probe: by running it in
	// a re-exec'd child, or from a capture.
	Active ActiveRunner
	// Replay is true when Root and Sys come from a capture.
	Replay bool
	// Own names the kprobe cluster a process belongs to ("" for none):
	// a scan next to a running cluster does not count the cluster's own
	// processes and ports as blockers. Nil when no cluster runs.
	Own func(pid int) string
}

// DefaultDataDir is where k3s keeps its state unless told otherwise.
const DefaultDataDir = "/var/lib/rancher/k3s"

// LiveEnv returns the Env of the running machine.
func LiveEnv(dataDir string) *Env {
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	return &Env{
		Root:    bounded.Wrap(os.DirFS("/")),
		Sys:     LiveSys(),
		DataDir: dataDir,
		Active:  &ChildRunner{DataDir: dataDir, Exe: ProbeChildExe()},
	}
}

// Statfs is the part of statfs(2) probes use.
type Statfs struct {
	Type   int64  `json:"type"`
	Bsize  int64  `json:"bsize"`
	Blocks uint64 `json:"blocks"`
	Bfree  uint64 `json:"bfree"`
	Bavail uint64 `json:"bavail"`
	Files  uint64 `json:"files"`
	Ffree  uint64 `json:"ffree"`
	Flags  int64  `json:"flags"`
}

// Uname is the part of uname(2) probes use.
type Uname struct {
	Sysname string `json:"sysname"`
	Release string `json:"release"`
	Version string `json:"version"`
	Machine string `json:"machine"`
}

// ExecResult is the outcome of running a command.
type ExecResult struct {
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode int    `json:"exit_code"`
}

// Syscalls is the narrow interface to the kernel for passive observations
// that are not file reads. Every method has serialisable arguments and
// results so that a capture can record them and a replay can answer them.
type Syscalls interface {
	// Statfs calls statfs(2) on an absolute path.
	Statfs(path string) (Statfs, error)
	// Uname calls uname(2).
	Uname() (Uname, error)
	// Syslog reads up to n bytes of the kernel log with syslog(2)
	// (SYSLOG_ACTION_READ_ALL), which works in gVisor even without /dev/kmsg.
	Syslog(n int) (string, error)
	// TryOpen opens an absolute path with flags (O_RDONLY, O_RDWR...) and
	// closes it at once: "does open work here", the answer for devices.
	TryOpen(path string, flags int) error
	// LookPath finds an executable on PATH.
	LookPath(name string) (string, error)
	// Exec runs a read-only command (a --version query) and returns its
	// output. A non-zero exit is reported in ExitCode, not as an error.
	Exec(ctx context.Context, name string, args ...string) (ExecResult, error)
	// Environ returns the process environment.
	Environ() []string
	// Getuid returns the real uid.
	Getuid() int
}

// TCPListener is a TCP socket in LISTEN state, as the kernel's sock_diag
// interface reports it.
type TCPListener struct {
	IP    netip.Addr
	Port  uint16
	UID   uint32
	Inode uint64
}

// ListenerSys is a Syscalls that can ask the kernel for the listening TCP
// sockets of its network namespace directly (sock_diag with only
// TCP_LISTEN in its state filter): the kernel then walks its listening
// hash alone, where printing /proc/net/tcp and tcp6 walks every socket
// (about 5 ms each on a 2-vCPU VM). Only the live Syscalls has it: a
// capture and its replay keep the two files, which any kprobe reads, and a
// kernel without sock_diag (gVisor) answers an error, after which the
// caller reads the files.
type ListenerSys interface {
	// TCPListeners lists the IPv4 and IPv6 listeners; an error means the
	// answer is not known (never a partial list).
	TCPListeners() ([]TCPListener, error)
}

// ActiveRunner obtains an active probe's observation.
type ActiveRunner interface {
	RunActive(ctx context.Context, p Probe) (*Observation, error)
}

// ActivePreparer is an ActiveRunner that is told, before the first
// RunActive of a scan, every active probe the scan will run (ChildRunner
// groups the ChildSharer ones into one child).
type ActivePreparer interface {
	Prepare(ps []Probe)
}

// ActiveWaiter is an ActiveRunner whose cleanup can outlive RunActive: a
// child shared by several probes (ChildSharer) is killed, swept and its
// temp dirs removed after the last of them returned, and a RunActive may
// outlast runOne's ActiveCleanup. Run waits for that (at most the limit)
// before it returns, so a scan that ends leaves nothing of its children
// on the host.
type ActiveWaiter interface {
	Wait(limit time.Duration) bool
}
