//go:build linux

package overlay

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/filesystems"
)

const (
	opTrial  = "overlay.trial"
	opTrials = "overlay.trials"
)

// Ops returns the grandchild ops of the overlay probe.
func Ops() map[string]probes.Op {
	return map[string]probes.Op{opTrial: opTrialMain, opTrials: opTrialsMain}
}

// opTrialsMain runs several trials one after another in one grandchild
// (the user namespace variants share one clone): args are pairs of
// "tmpfs"|"dir" and a base directory; it prints one line of steps per
// pair, in order.
func opTrialsMain(args []string) (string, error) {
	if len(args) == 0 || len(args)%2 != 0 {
		return "", fmt.Errorf("usage: %s (tmpfs|dir BASE) repeated", opTrials)
	}
	var lines []string
	for i := 0; i < len(args); i += 2 {
		if args[i] != "tmpfs" && args[i] != "dir" {
			return "", fmt.Errorf("usage: %s (tmpfs|dir BASE) repeated", opTrials)
		}
		lines = append(lines, Trial(args[i+1], args[i] == "tmpfs", true).String())
	}
	return strings.Join(lines, "\n"), nil
}

// opTrialMain runs in a grandchild cloned into new namespaces:
// args are "tmpfs"|"dir" and the base directory.
func opTrialMain(args []string) (string, error) {
	if len(args) != 2 || (args[0] != "tmpfs" && args[0] != "dir") {
		return "", fmt.Errorf("usage: %s tmpfs|dir BASE", opTrial)
	}
	return Trial(args[1], args[0] == "tmpfs", true).String(), nil
}

// Trial mounts an overlay under base: lower, upper, work and merged dirs,
// on a tmpfs mounted at base first when onTmpfs. It writes through the
// overlay and deletes a lower file (a whiteout), then unmounts everything
// it mounted. private first makes every mount in the current mount
// namespace private, so that nothing propagates out: only pass it in a
// mount namespace of our own.
func Trial(base string, onTmpfs, private bool) (s filesystems.Steps) {
	if private {
		// gVisor answers EINVAL; its mounts do not propagate anyway.
		s.Add("private", unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""))
	}
	if onTmpfs {
		if !s.Add("tmpfs", unix.Mount("tmpfs", base, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=16m,mode=0700")) {
			return s
		}
		defer func() { s.Add("umount_tmpfs", unix.Unmount(base, unix.MNT_DETACH)) }()
	}
	dir := func(n string) string { return filepath.Join(base, n) }
	var err error
	for _, n := range []string{"lower", "upper", "work", "merged"} {
		if err == nil {
			err = os.Mkdir(dir(n), 0o700)
		}
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir("lower"), "old"), []byte("lower\n"), 0o600)
	}
	if !s.Add("prepare", err) {
		return s
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dir("lower"), dir("upper"), dir("work"))
	if !s.Add("mount", unix.Mount("overlay", dir("merged"), "overlay", 0, opts)) {
		return s
	}
	s.Add("write", os.WriteFile(filepath.Join(dir("merged"), "new"), []byte("upper\n"), 0o600))
	s.Add("whiteout", os.Remove(filepath.Join(dir("merged"), "old")))
	s.Add("umount", unix.Unmount(dir("merged"), unix.MNT_DETACH))
	return s
}

// usable reports whether a path can go into overlay's option string.
func usable(p string) bool { return !strings.ContainsAny(p, ",:\\= \n") }

// trialResult is one variant's outcome.
type trialResult struct {
	tri   probes.Tri
	steps filesystems.Steps
	ev    probes.Evidence
}

// trial names one variant: where the upper dir goes and whether a new
// user namespace is made for it.
type trial struct {
	base            string
	onTmpfs, userns bool
}

func (t trial) mode() string {
	if t.onTmpfs {
		return "tmpfs"
	}
	return "dir"
}

func (t trial) label() string {
	if t.onTmpfs {
		return "overlay upper on tmpfs"
	}
	return "overlay upper on the data dir's filesystem"
}

// source is the evidence source of a trial run in a fresh namespace.
func (t trial) source() string {
	where := "new mount namespace"
	if t.userns {
		where = "new user+mount namespace"
	}
	return fmt.Sprintf("%s (%s) in %s", t.label(), t.base, where)
}

// cloneAttr is how a trial's grandchild is cloned: a new mount namespace,
// and with userns a new user namespace mapping root to our uid and gid.
func cloneAttr(userns bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	if userns {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	return attr
}

// result reads a trial's steps into its answer and evidence.
func result(src string, steps filesystems.Steps) trialResult {
	ev := probes.Evidence{Source: src, Excerpt: steps.String()}
	// The errno that decided the answer; "private" may fail harmlessly
	// (gVisor: EINVAL) before it.
	for _, n := range []string{"tmpfs", "prepare", "mount"} {
		if v, ok := steps.Result[n]; ok && v != "ok" {
			ev.Errno = v
			break
		}
	}
	return trialResult{tri: Mounted(steps), steps: steps, ev: ev}
}

// run runs Trial in a grandchild with new namespaces. Without a user
// namespace, a denied clone falls back to this child's own namespace
// (without touching propagation), where the sandbox itself may allow the
// mount. A denied clone with a user namespace means the variant is
// impossible here: No.
func run(ctx context.Context, t trial) trialResult {
	src := t.source()
	out, err := probes.SpawnOp(ctx, cloneAttr(t.userns), opTrial, t.mode(), t.base)
	var steps filesystems.Steps
	switch {
	case err == nil:
		steps = filesystems.ParseSteps(out)
	case cloneDenied(err) && t.userns:
		return cloneRefused(src, err)
	case cloneDenied(err):
		// The mounts are undone before Trial returns; propagation is
		// left alone, since this may be the sandbox's own namespace.
		ns := "the sandbox's mount namespace"
		if probes.InPrivateMountNamespace() {
			ns = "the probe's private mount namespace"
		}
		steps = Trial(t.base, t.onTmpfs, false)
		src = fmt.Sprintf("%s (%s) in %s (clone: %s)", t.label(), t.base, ns, probes.Errno(err))
	default:
		return trialResult{tri: probes.Unknown, ev: probes.Evidence{Source: src, Excerpt: err.Error(), Errno: probes.Errno(err)}}
	}
	return result(src, steps)
}

func cloneRefused(src string, err error) trialResult {
	return trialResult{tri: probes.No, ev: probes.Evidence{Source: src, Excerpt: "clone refused", Errno: probes.Errno(err)}}
}

// runHere runs a trial without a user namespace in this child's own
// mount namespace, which the runner made private for it (a new mount
// namespace, as the grandchild of run would make, without starting one):
// Trial may make propagation private there, as in a grandchild.
func runHere(t trial) trialResult {
	src := fmt.Sprintf("%s (%s) in the probe's private mount namespace", t.label(), t.base)
	return result(src, Trial(t.base, t.onTmpfs, true))
}

// separateUserns, set by tests, runs every user namespace trial in a
// grandchild of its own, as before they shared one.
var separateUserns = false

// runUserns runs the user namespace trials in one grandchild: one clone,
// one user and mount namespace, the trials in turn (each under its own
// base dir, unmounting what it mounted). A refused clone answers No for
// every one, as it would for each; any other failure, or a trial the
// grandchild printed no line for, runs that trial again in a grandchild
// of its own, so that one trial's hang or crash cannot decide another's
// answer.
func runUserns(ctx context.Context, ts []trial) []trialResult {
	res := make([]trialResult, len(ts))
	done := make([]bool, len(ts))
	if !separateUserns && len(ts) > 1 {
		var args []string
		for _, t := range ts {
			args = append(args, t.mode(), t.base)
		}
		out, err := probes.SpawnOp(ctx, cloneAttr(true), opTrials, args...)
		switch {
		case err == nil:
			lines := strings.Split(out, "\n")
			for i, t := range ts {
				if i < len(lines) && strings.TrimSpace(lines[i]) != "" {
					res[i], done[i] = result(t.source(), filesystems.ParseSteps(lines[i])), true
				}
			}
		case cloneDenied(err):
			for i, t := range ts {
				res[i], done[i] = cloneRefused(t.source(), err), true
			}
		}
	}
	for i, t := range ts {
		if !done[i] {
			res[i] = run(ctx, t)
		}
	}
	return res
}

func cloneDenied(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) ||
		errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EUSERS) ||
		errors.Is(err, syscall.ENOSPC)
}

// removeAll removes a scratch tree, first making its directories
// searchable: overlay leaves work/work with mode 000.
func removeAll(dir string) error {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// sameFilesystem reports whether a and b are on the same filesystem (the
// same device number); false when either cannot be stat'ed.
func sameFilesystem(a, b string) bool {
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	if err1 != nil || err2 != nil || b == "" {
		return false
	}
	as, ok1 := ai.Sys().(*syscall.Stat_t)
	bs, ok2 := bi.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && as.Dev == bs.Dev
}

// Run tries the four overlay variants and looks for the FUSE fallback.
func (Probe) Run(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	if env.TempDir == "" {
		return o, errors.New("overlay is an active probe: it needs a scratch dir")
	}

	if raw, err := fs.ReadFile(env.Root, "proc/filesystems"); err != nil {
		o.Set("overlay.listed", probes.Unknown)
		o.Note("/proc/filesystems", "", err)
	} else {
		o.Set("overlay.listed", probes.TriOf(ParseFilesystems(string(raw))["overlay"]))
	}

	if p, err := env.Sys.LookPath("fuse-overlayfs"); err == nil {
		o.Set("overlay.fuse_overlayfs", probes.Yes)
		o.Note("PATH", p, nil)
	} else if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		o.Set("overlay.fuse_overlayfs", probes.No)
	} else {
		o.Set("overlay.fuse_overlayfs", probes.Unknown)
		o.Note("PATH fuse-overlayfs", "", err)
	}
	// Any errno is an answer (ENOENT: no node, EACCES/EPERM: denied);
	// an error without one is not.
	var en syscall.Errno
	switch err := env.Sys.TryOpen("/dev/fuse", os.O_RDWR); {
	case err == nil:
		o.Set("overlay.dev_fuse", probes.Yes)
	case errors.As(err, &en):
		o.Set("overlay.dev_fuse", probes.No)
		o.Note("open /dev/fuse O_RDWR", "", err)
	default:
		o.Set("overlay.dev_fuse", probes.Unknown)
		o.Note("open /dev/fuse O_RDWR", "", err)
	}

	// The four trials run at once, each in its own grandchild and base
	// dir: most of a trial's time is the kernel tearing down its mount
	// namespace, not CPU. What they find is recorded afterwards in the
	// order of the list, so the observation is the same as one by one.
	//
	// Where the runner gave this child a private mount namespace (the
	// same kind of namespace a grandchild's clone makes), the trials
	// without a user namespace run here instead of in grandchildren; the
	// user namespace trials share one grandchild (runUserns).
	here := probes.InPrivateMountNamespace()
	var record []func()
	var userns []trial
	var usernsDone []chan trialResult
	start := func(base string, onTmpfs, withUserns bool) func() trialResult {
		done := make(chan trialResult, 1)
		t := trial{base: base, onTmpfs: onTmpfs, userns: withUserns}
		switch {
		case withUserns:
			userns, usernsDone = append(userns, t), append(usernsDone, done)
		case here:
			go func() { done <- runHere(t) }()
		default:
			go func() { done <- run(ctx, t) }()
		}
		return func() trialResult { return <-done }
	}

	// Upper on tmpfs, without and with a user namespace.
	for _, v := range []struct {
		key    string
		userns bool
	}{{"overlay.mount_tmpfs", false}, {"overlay.userns_tmpfs", true}} {
		base := filepath.Join(env.TempDir, strings.TrimPrefix(v.key, "overlay."))
		if !usable(base) {
			record = append(record, func() {
				o.Set(v.key, probes.Unknown)
				o.Note(base, "path cannot be passed in overlay mount options", nil)
			})
			continue
		}
		if err := os.Mkdir(base, 0o700); err != nil {
			record = append(record, func() {
				o.Set(v.key, probes.Unknown)
				o.Note("mkdir "+base, "", err)
			})
			continue
		}
		wait := start(base, true, v.userns)
		record = append(record, func() {
			r := wait()
			o.Set(v.key, r.tri)
			o.Evidence = append(o.Evidence, r.ev)
			if v.userns {
				o.Set("overlay.userns_whiteout", r.steps.Tri("whiteout"))
			}
			if err := removeAll(base); err != nil {
				o.Note("cleanup "+base, "", err)
			}
		})
	}

	// Upper on the data dir's filesystem: a scratch dir under the data dir
	// or its nearest existing ancestor, removed afterwards.
	anc := scratchParent(env)
	record = append(record, func() { o.Set("overlay.datadir_path", anc) })
	datadirEv := probes.Evidence{Source: "overlay trial under " + anc}
	scratch, err := os.MkdirTemp(anc, scratchPrefix(os.Getpid()))
	if err != nil && errors.Is(err, fs.ErrPermission) && sameFilesystem(anc, env.TempDir) {
		// Not ours to write (a user namespace of an unprivileged user:
		// /var/lib belongs to the real root), but the filesystem is what
		// the trial is about: use our scratch dir when it is on it.
		merr := err
		record = append(record, func() {
			o.Note("mkdir scratch dir under "+anc, "not writable; trying under "+env.TempDir+", on the same filesystem", merr)
		})
		scratch, err = os.MkdirTemp(env.TempDir, scratchPrefix(os.Getpid()))
		datadirEv.Source = "overlay trial on the filesystem of " + anc + ", under " + env.TempDir
	}
	switch {
	case err != nil:
		record = append(record, func() {
			o.Set("overlay.mount_datadir", probes.Unknown)
			o.Set("overlay.userns_datadir", probes.Unknown)
			o.Note("mkdir scratch dir under "+anc, "", err)
		})
	case !usable(scratch):
		record = append(record, func() {
			o.Set("overlay.mount_datadir", probes.Unknown)
			o.Set("overlay.userns_datadir", probes.Unknown)
			o.Note(scratch, "path cannot be passed in overlay mount options", nil)
		})
	default:
		defer func() {
			if err := removeAll(scratch); err != nil {
				o.Note("cleanup "+scratch, "", err)
			}
		}()
		for _, v := range []struct {
			key    string
			userns bool
		}{{"overlay.mount_datadir", false}, {"overlay.userns_datadir", true}} {
			base := filepath.Join(scratch, strings.TrimPrefix(v.key, "overlay."))
			if err := os.Mkdir(base, 0o700); err != nil {
				record = append(record, func() {
					o.Set(v.key, probes.Unknown)
					o.Note("mkdir "+base, "", err)
				})
				continue
			}
			wait := start(base, false, v.userns)
			record = append(record, func() {
				r := wait()
				o.Set(v.key, r.tri)
				o.Evidence = append(o.Evidence, r.ev)
				if !v.userns {
					datadirEv = r.ev
				}
				if v.userns && r.steps.Tri("whiteout") != probes.Unknown {
					// The data dir variant is what rootless containerd does.
					o.Set("overlay.userns_whiteout", r.steps.Tri("whiteout"))
				}
			})
		}
	}
	if len(userns) > 0 {
		go func() {
			for i, r := range runUserns(ctx, userns) {
				usernsDone[i] <- r
			}
		}()
	}
	for _, f := range record {
		f()
	}
	judge(o, datadirEv)
	return o, nil
}

// scratchParent is where the data dir trial makes its scratch dir: the
// data dir or its nearest existing ancestor.
func scratchParent(env *probes.Env) string {
	dataDir := env.DataDir
	if dataDir == "" {
		dataDir = probes.DefaultDataDir
	}
	anc, _ := filesystems.NearestExisting(env.Root, filesystems.RealPath(env.Root, dataDir))
	return anc
}

// scratchPrefix names the scratch dirs of the probe child pid, so that
// the scan can find what a killed child left.
func scratchPrefix(pid int) string { return fmt.Sprintf(".kprobe-overlay-%d-", pid) }

// Sweep implements probes.Sweeper: the data dir trial's scratch dir of a
// child killed before it removed it. A scratch dir with anything still
// mounted below it is left alone (removing it would cross the mount).
func (Probe) Sweep(childPID int, env *probes.Env) ([]string, error) {
	anc := scratchParent(env)
	ents, err := os.ReadDir(anc)
	if err != nil {
		return nil, nil
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), scratchPrefix(childPID)) {
			continue
		}
		d := filepath.Join(anc, e.Name())
		mounted, err := mountinfo.GetMounts(mountinfo.PrefixFilter(d))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("mounts under %s: %w", d, err))
		case len(mounted) > 0:
			errs = append(errs, fmt.Errorf("%s left in place: %s is still mounted", d, mounted[0].Mountpoint))
		default:
			if err := removeAll(d); err != nil {
				errs = append(errs, err)
			} else {
				removed = append(removed, d)
			}
		}
	}
	return removed, errors.Join(errs...)
}
