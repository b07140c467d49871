//go:build linux

package probes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/reexec"
	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes/bounded"
)

const childName = "kprobe-active-probe"

// RegisterChildren registers the re-exec entry points of active probes and
// their ops. main and TestMain call it, then reexec.Init.
func RegisterChildren(all []Probe) {
	reexec.Register(childName, func() { os.Exit(childMain(all)) })
	reexec.Register(OpName, func() { os.Exit(opMain()) })
}

// ChildRunner runs active probes in a re-exec'd child, in a private mount
// namespace when the sandbox allows one, with a fresh temp dir removed
// afterwards. A child that overruns its context is killed with its
// process group.
type ChildRunner struct {
	DataDir string
	// Exe is the executable that runs the children (kprobe-probe, see
	// ProbeChildExe); empty re-executes the running binary.
	Exe string
}

type childReply struct {
	Observation *Observation `json:"observation"`
	Error       string       `json:"error,omitempty"`
}

// RunActive implements ActiveRunner.
func (c *ChildRunner) RunActive(ctx context.Context, p Probe) (*Observation, error) {
	tmp, err := os.MkdirTemp("", "kprobe-"+p.ID()+"-")
	if err != nil {
		return nil, fmt.Errorf("temp dir for active probe: %w", err)
	}
	defer os.RemoveAll(tmp)
	out, stderr, err := c.start(ctx, p.ID(), tmp, true)
	if err != nil && isCloneDenied(err) {
		// No private mount namespace here (unprivileged sandbox): run in
		// our own namespace; ops then create what they may themselves.
		out, stderr, err = c.start(ctx, p.ID(), tmp, false)
	}
	if err != nil {
		return nil, fmt.Errorf("active probe child: %w%s", err, tail(stderr))
	}
	var rep childReply
	if err := json.Unmarshal(out, &rep); err != nil || rep.Observation == nil {
		return nil, fmt.Errorf("active probe child sent no result (%v)%s", err, tail(stderr))
	}
	if err := CoerceObservation(p, rep.Observation); err != nil {
		return nil, err
	}
	return rep.Observation, ErrFromText(rep.Error)
}

// ProbeChildName is the executable that runs active probes in children
// (cmd/kprobe-probe): it links only the probes, so a child starts without
// the package initialisation of kprobe's Kubernetes libraries.
const ProbeChildName = "kprobe-probe"

// ProbeChildExe returns the kprobe-probe next to the running executable,
// or "" when there is none (the children then re-execute this binary).
func ProbeChildExe() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	path := filepath.Join(filepath.Dir(self), ProbeChildName)
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 || path == self {
		return ""
	}
	return path
}

func isCloneDenied(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS)
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 400 {
		s = "..." + s[len(s)-400:]
	}
	return ": " + s
}

func (c *ChildRunner) start(ctx context.Context, id, tmp string, newns bool) ([]byte, []byte, error) {
	if c.Exe != "" {
		out, stderr, err := c.startExe(ctx, c.Exe, id, tmp, newns)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUnknownProbe {
			return out, stderr, err
		}
		// A kprobe-probe from another build that lacks this probe: the
		// running binary has every probe it knows of.
	}
	return c.startExe(ctx, "", id, tmp, newns)
}

// exitUnknownProbe is the child's exit code for a probe ID it lacks.
const exitUnknownProbe = 3

func (c *ChildRunner) startExe(ctx context.Context, exe, id, tmp string, newns bool) ([]byte, []byte, error) {
	cmd := reexec.Command(childName, id, c.DataDir, tmp)
	if exe != "" {
		cmd.Path = exe
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if newns {
		attr.Cloneflags = syscall.CLONE_NEWNS
		cmd.Env = append(os.Environ(), "KPROBE_CHILD_NEWNS=1")
	}
	cmd.SysProcAttr = attr
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := runKillable(ctx, cmd); err != nil {
		return out.Bytes(), errb.Bytes(), err
	}
	return out.Bytes(), errb.Bytes(), nil
}

// runKillable runs cmd (which must have Setpgid) and kills its whole
// process group when ctx ends first.
func runKillable(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return ctx.Err()
	}
}

func childMain(all []Probe) int {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: kprobe-active-probe ID DATADIR TMPDIR")
		return exitUnknownProbe
	}
	id, dataDir, tmp := os.Args[1], os.Args[2], os.Args[3]
	var p Probe
	for _, q := range all {
		if q.ID() == id {
			p = q
		}
	}
	if p == nil {
		fmt.Fprintf(os.Stderr, "unknown probe %q\n", id)
		return exitUnknownProbe
	}
	if os.Getenv("KPROBE_CHILD_NEWNS") == "1" {
		// Keep every mount of this child out of the parent's namespace.
		// gVisor refuses MS_REC|MS_PRIVATE with EINVAL; its mounts do not
		// propagate anyway, and probes unmount what they mount.
		_ = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
	}
	env := &Env{Root: bounded.Wrap(os.DirFS("/")), Sys: LiveSys(), DataDir: dataDir, TempDir: tmp}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obs, err := p.Run(ctx, env)
	if obs == nil {
		obs = NewObservation()
	}
	rep := childReply{Observation: obs, Error: ErrorText(err)}
	if e := json.NewEncoder(os.Stdout).Encode(rep); e != nil {
		return 1
	}
	return 0
}

// SpawnOp runs a registered Op in a re-exec'd grandchild with the given
// process attributes (clone flags, uid maps). The returned error carries the
// errno of the clone or of the op, so callers can tell EPERM from EINVAL.
func SpawnOp(ctx context.Context, attr *syscall.SysProcAttr, op string, args ...string) (string, error) {
	if _, ok := ops[op]; !ok {
		return "", fmt.Errorf("unknown op %q", op)
	}
	cmd := reexec.Command(append([]string{OpName, op}, args...)...)
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Setpgid = true
	// Go's fork checks for a dead parent by comparing getppid() with the
	// parent's pid; in a new pid namespace getppid() is 0, so the child
	// signals itself. Linux ignores that for a namespace's pid 1, gVisor
	// delivers it. Such ops are still killed with the process group.
	if attr.Cloneflags&syscall.CLONE_NEWPID == 0 {
		attr.Pdeathsig = syscall.SIGKILL
	}
	cmd.SysProcAttr = attr
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := runKillable(ctx, cmd)
	line := strings.TrimSpace(out.String())
	if rest, ok := strings.CutPrefix(line, "ERR "); ok {
		return "", ErrFromText(rest)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("op %s exited %d%s", op, ee.ExitCode(), tail(errb.Bytes()))
		}
		// The clone itself failed: err wraps the errno.
		return "", err
	}
	return line, nil
}

func opMain() int {
	if len(os.Args) < 2 {
		return 3
	}
	fn, ok := ops[os.Args[1]]
	if !ok {
		fmt.Println("ERR unknown op " + os.Args[1])
		return 1
	}
	res, err := fn(os.Args[2:])
	if err != nil {
		fmt.Println("ERR " + ErrorText(err))
		return 1
	}
	fmt.Println(res)
	return 0
}
