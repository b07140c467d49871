package shims

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kprobe/kprobe/probes/sysctls"
)

// Scope says in which mount namespace a shim may run.
type Scope string

const (
	// ScopeNamespace shims change mounts that only the engine may see:
	// Apply refuses unless Env.PrivateNS.
	ScopeNamespace Scope = "namespace"
	// ScopePreferNamespace shims are best in a private namespace and
	// still work in a shared one.
	ScopePreferNamespace Scope = "prefer-namespace"
	// ScopeHost shims change what every process sees (the data dir, the
	// cgroup tree, a file on disk) and must run where `kprobe stop` can
	// undo them.
	ScopeHost Scope = "host"
)

// Errors Apply and Undo return; test them with errors.Is.
var (
	// ErrNeedPrivateNS: a ScopeNamespace shim was applied outside a
	// private mount namespace.
	ErrNeedPrivateNS = errors.New("needs a private mount namespace (run it in the engine's namespace, Env.PrivateNS)")
	// ErrNotApplicable: the shim has nothing to act on here (no cgroup v2
	// root, no data dir...). The plan should not have chosen it.
	ErrNotApplicable = errors.New("not applicable here")
	// ErrNamespaceInUse: Undo of mount steps from another mount namespace
	// while a process still holds the one they were made in.
	ErrNamespaceInUse = errors.New("the mount namespace the shim ran in is still in use")
	// ErrUnsupported: shims need Linux.
	ErrUnsupported = errors.New("shims are only supported on Linux")
)

// Env is what shims act on. The zero value of every path means the real
// one (/dev/kmsg, /proc/sys, /sys/fs/cgroup); tests point them elsewhere.
type Env struct {
	// StateDir is where shims keep what they create on disk (the runtime
	// wrapper; fake sysctl files when no tmpfs can be mounted). The
	// launcher uses a directory under the data dir.
	StateDir string
	// DataDir is the engine's data dir (tmpfs-datadir mounts over it).
	DataDir string
	// PrivateNS says the caller runs in a private mount namespace that
	// PrivateNS() prepared; ScopeNamespace shims refuse to run otherwise.
	PrivateNS bool

	// Kmsg is the /dev/kmsg path.
	Kmsg string
	// ProcSys is the /proc/sys path.
	ProcSys string
	// CgroupRoot is the cgroup v2 directory to evacuate; "" means
	// /sys/fs/cgroup when that is cgroup2.
	CgroupRoot string
	// Sysctls maps dotted sysctl names to the values fake-sysctls must
	// show where the real entry cannot be written or is missing; nil
	// means KubeletSysctls plus kernel.cap_last_cap.
	Sysctls map[string]string
	// TmpfsSize is the size= option of the data dir tmpfs ("" = the
	// kernel default, half of RAM).
	TmpfsSize string

	// Runtime is the real OCI runtime the wrapper hands over to; "" means
	// runc from PATH.
	Runtime string
	// WrapperCommand runs kprobe in wrapper mode; the wrapper script
	// appends the real runtime, its options, "--" and runc's arguments.
	// "" means {os.Executable(), WrapperSubcommand}.
	WrapperCommand []string
	// Wrapper chooses the spec rewrites; nil means DefaultWrapperOptions().
	Wrapper *WrapperOptions

	// Logf receives one line per action, nil for none.
	Logf func(format string, args ...any)
}

func (e *Env) logf(format string, args ...any) {
	if e.Logf != nil {
		e.Logf(format, args...)
	}
}

// KubeletSysctls are the values the kubelet sets at start (or demands with
// protect-kernel-defaults): probes/sysctls.KubeletTunables, the one list.
func KubeletSysctls() map[string]string { return sysctls.KubeletValues() }

// Shim is one named, reversible change.
type Shim struct {
	Name    string
	Scope   Scope
	Summary string
	apply   func(ctx context.Context, env *Env, j *Applied) error
}

// Applied is the journal of one Apply: what Undo removes.
type Applied struct {
	Shim string `json:"shim"`
	// MountNS is the mount namespace Apply ran in ("mnt:[4026531841]").
	MountNS string    `json:"mountNS,omitempty"`
	Time    time.Time `json:"time"`
	Steps   []Step    `json:"steps,omitempty"`
	// Outputs are what the launcher needs to use the shim (the runtime
	// wrapper's path, the kmsg method...).
	Outputs map[string]string `json:"outputs,omitempty"`
	// Notes say what the shim found and chose, for the launch report.
	Notes []string `json:"notes,omitempty"`
}

// Step is one undoable action.
type Step struct {
	// Op is mount, propagation, mkdir, file, symlink, cgroup-procs,
	// cgroup-subtree or cgroup-subtree-off.
	Op   string `json:"op"`
	Path string `json:"path"`
	// MountID identifies a mount (mount) in /proc/self/mountinfo.
	MountID int `json:"mountID,omitempty"`
	// Dev and Ino identify a created file, directory or symlink, so that
	// Undo removes that one and not a later one at the same path.
	Dev uint64 `json:"dev,omitempty"`
	Ino uint64 `json:"ino,omitempty"`
	// Target is a symlink's target, or the cgroup processes return to.
	Target string `json:"target,omitempty"`
	// Propagation holds the previous propagation of each mount point
	// ("private", "slave", "shared", "shared,slave") for propagation.
	Propagation map[string]string `json:"propagation,omitempty"`
	// Pids were moved (cgroup-procs); All says every process of Path
	// goes back, also those forked since.
	Pids []int `json:"pids,omitempty"`
	All  bool  `json:"all,omitempty"`
	// Controllers were enabled (cgroup-subtree) or turned off
	// (cgroup-subtree-off) in Path's cgroup.subtree_control.
	Controllers []string `json:"controllers,omitempty"`
	// Detach unmounts lazily, with everything mounted beneath.
	Detach bool `json:"detach,omitempty"`
	// NS marks steps that live in the mount namespace (mounts,
	// propagation).
	NS bool `json:"ns,omitempty"`
}

// Empty reports whether Apply changed nothing (it was in place already).
func (a *Applied) Empty() bool { return a == nil || len(a.Steps) == 0 }

var registry = []*Shim{
	{Name: "kmsg", Scope: ScopePreferNamespace, Summary: "a /dev/kmsg stand-in: /dev/null bound over it, or a symlink to /dev/console", apply: applyKmsg},
	{Name: "rshared", Scope: ScopeNamespace, Summary: "make / and every mount under it rshared", apply: applyRshared},
	{Name: "cgroup-evacuate", Scope: ScopeHost, Summary: "move the processes of the cgroup v2 root into init/ and enable every controller for its children", apply: applyCgroupEvacuate},
	{Name: "tmpfs-datadir", Scope: ScopeHost, Summary: "mount a tmpfs on the data dir, with its current content copied in", apply: applyTmpfsDataDir},
	{Name: "fake-sysctls", Scope: ScopeNamespace, Summary: "bind fake files over /proc/sys entries that cannot be written, create missing ones on a tmpfs", apply: applyFakeSysctls},
	{Name: "runtime-wrapper", Scope: ScopeHost, Summary: "an OCI runtime wrapper that rewrites config.json before runc runs", apply: applyRuntimeWrapper},
}

// All returns every shim, in registry order.
func All() []*Shim { return append([]*Shim(nil), registry...) }

// Names returns the shim names, sorted.
func Names() []string {
	var n []string
	for _, s := range registry {
		n = append(n, s.Name)
	}
	sort.Strings(n)
	return n
}

// Get returns the shim with that name.
func Get(name string) (*Shim, error) {
	for _, s := range registry {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("unknown shim %q (known: %v)", name, Names())
}

// Apply makes the change. On error it undoes what it did before
// returning, so the caller has nothing to clean up.
func (s *Shim) Apply(ctx context.Context, env *Env) (*Applied, error) {
	if env == nil {
		env = &Env{}
	}
	if s.Scope == ScopeNamespace && !env.PrivateNS {
		return nil, fmt.Errorf("shim %s: %w", s.Name, ErrNeedPrivateNS)
	}
	a := &Applied{Shim: s.Name, MountNS: currentMountNS(), Time: time.Now().UTC()}
	if err := s.apply(ctx, env, a); err != nil {
		if uerr := a.Undo(context.WithoutCancel(ctx)); uerr != nil {
			err = fmt.Errorf("%w (and undoing the partial change: %v)", err, uerr)
		}
		return nil, fmt.Errorf("shim %s: %w", s.Name, err)
	}
	for _, n := range a.Notes {
		env.logf("shim %s: %s", s.Name, n)
	}
	return a, nil
}

// nsExitWait bounds how long Undo waits for the last holder of a shim's
// mount namespace to exit: stop has signalled the cluster's processes, and
// one of them can still be exiting when the journal is undone (stop
// --purge failed once on a pid that was gone a second later).
const nsExitWait = 5 * time.Second

// nsGoneWithin is nsGone, retried until the namespace is gone, ctx ends or
// wait has passed.
func nsGoneWithin(ctx context.Context, ns string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := nsGone(ns)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Undo reverts the journal, last step first. Steps that could not be
// undone stay in a.Steps and make the error; a second Undo retries them.
func (a *Applied) Undo(ctx context.Context) error {
	if a == nil {
		return nil
	}
	var errs []error
	var left []Step
	otherNS := a.MountNS != "" && a.MountNS != currentMountNS()
	for i := len(a.Steps) - 1; i >= 0; i-- {
		st := a.Steps[i]
		if ctx.Err() != nil {
			left = append(left, st)
			continue
		}
		var err error
		if st.NS && otherNS {
			err = nsGoneWithin(ctx, a.MountNS, nsExitWait)
		} else {
			err = undoStep(st)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("undo %s %s: %w", st.Op, st.Path, err))
			left = append(left, st)
		}
	}
	// left is in reverse order; keep the journal's order.
	for i, j := 0, len(left)-1; i < j; i, j = i+1, j-1 {
		left[i], left[j] = left[j], left[i]
	}
	a.Steps = left
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// ApplyAll applies the named shims in order. On error it undoes those it
// applied and returns the error.
func ApplyAll(ctx context.Context, env *Env, names []string) ([]*Applied, error) {
	var done []*Applied
	for _, n := range names {
		s, err := Get(n)
		if err == nil {
			var a *Applied
			a, err = s.Apply(ctx, env)
			if err == nil {
				done = append(done, a)
				continue
			}
		}
		if uerr := UndoAll(context.WithoutCancel(ctx), done); uerr != nil {
			err = fmt.Errorf("%w (and undoing the shims before it: %v)", err, uerr)
		}
		return nil, err
	}
	return done, nil
}

// UndoAll undoes the journals in reverse order, all of them even when one
// fails.
func UndoAll(ctx context.Context, as []*Applied) error {
	var errs []error
	for i := len(as) - 1; i >= 0; i-- {
		if err := as[i].Undo(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shim %s: %w", as[i].Shim, err))
		}
	}
	return errors.Join(errs...)
}

// Save writes journals as JSON (0600), atomically.
func Save(path string, as []*Applied) error {
	b, err := json.MarshalIndent(as, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Load reads what Save wrote; a missing file is no journal.
func Load(path string) ([]*Applied, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var as []*Applied
	if err := json.Unmarshal(b, &as); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return as, nil
}

// sysctlPath turns "kernel.keys.root_maxkeys" into "kernel/keys/root_maxkeys";
// a name with a slash is a path already.
func sysctlPath(key string) string {
	if strings.Contains(key, "/") {
		return strings.Trim(key, "/")
	}
	return strings.ReplaceAll(key, ".", "/")
}

// Dispatch runs the modes of kprobe's binary that shims re-execute: the
// runtime wrapper (args[1] == WrapperSubcommand). Call it first in main
// with os.Args; when ok, exit with code.
func Dispatch(args []string) (code int, ok bool) {
	if len(args) < 2 {
		return 0, false
	}
	switch args[1] {
	case WrapperSubcommand:
		return WrapperMain(args[2:]), true
	}
	return 0, false
}
