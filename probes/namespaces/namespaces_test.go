package namespaces

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// cloneErr is what os/exec returns when clone(2) or the uid_map write
// fails: the errno wrapped in a PathError.
func cloneErr(e syscall.Errno) error {
	return &os.PathError{Op: "fork/exec", Path: "/proc/self/exe", Err: e}
}

// model answers a spawn the way a sandbox of the zoo does
// (shared/research/sandbox-zoo.md, comparison table).
type model struct {
	uid int
	// clone returns the clone error for flags, or nil.
	clone func(flags uintptr, mapRoot bool) error
	// mount returns the mount errno for fstype, or 0.
	mount func(fstype string, userns bool) syscall.Errno
}

func (m model) spawn(_ context.Context, t trial) outcome {
	flags := t.flags
	if err := m.clone(flags, t.mapRoot); err != nil {
		return outcome{err: err}
	}
	if t.fstype == "" {
		return outcome{line: "ok"}
	}
	if e := m.mount(t.fstype, flags&cloneNewUser != 0); e != 0 {
		return outcome{line: "fail " + probes.Errno(e)}
	}
	return outcome{line: "ok"}
}

func allow(uintptr, bool) error            { return nil }
func mountAll(string, bool) syscall.Errno  { return 0 }
func mountNone(string, bool) syscall.Errno { return syscall.EPERM }
func plainOnly(flags uintptr, _ bool) error { // no caps outside a new userns
	if flags&cloneNewUser == 0 {
		return cloneErr(syscall.EPERM)
	}
	return nil
}

var sandboxes = map[string]model{
	"host": {uid: 0, clone: allow, mount: mountAll},
	// Docker-like seccomp: clone with any namespace flag is EPERM.
	"runc-docker": {uid: 0, clone: func(uintptr, bool) error { return cloneErr(syscall.EPERM) }, mount: mountNone},
	// Rootless runc: a userns can be made, root cannot be mapped
	// (no CAP_SETFCAP), nothing else without a userns.
	"runc-rootless": {uid: 0, clone: func(flags uintptr, mapRoot bool) error {
		if flags == cloneNewUser && !mapRoot {
			return nil
		}
		return cloneErr(syscall.EPERM)
	}, mount: mountNone},
	// gVisor do: every clone works; cgroup2 is unknown (ENODEV); every
	// mount inside a child userns is EPERM.
	"gvisor-do": {uid: 0, clone: allow, mount: func(fs string, userns bool) syscall.Errno {
		switch {
		case userns:
			return syscall.EPERM
		case fs == "cgroup2":
			return syscall.ENODEV
		}
		return 0
	}},
	// gVisor run with a Docker spec: NEWNS and NEWCGROUP clone, NEWNET
	// and NEWPID do not, and no mount works.
	"gvisor-run": {uid: 0, clone: func(flags uintptr, _ bool) error {
		if flags&cloneNewUser == 0 && flags&(cloneNewNet|cloneNewPID|cloneNewIPC|cloneNewUTS) != 0 {
			return cloneErr(syscall.EPERM)
		}
		return nil
	}, mount: mountNone},
	// bwrap as uid 1001: only inside a userns; sysfs refused there.
	"bwrap": {uid: 1001, clone: plainOnly, mount: func(fs string, _ bool) syscall.Errno {
		if fs == "sysfs" {
			return syscall.EPERM
		}
		return 0
	}},
	// Root podman (11 caps, no CAP_SYS_ADMIN): userns allowed by its
	// seccomp profile, but proc and sysfs are refused in it because the
	// container's /proc and /sys have masked paths.
	"podman": {uid: 0, clone: plainOnly, mount: func(fs string, userns bool) syscall.Errno {
		if !userns || fs == "proc" || fs == "sysfs" {
			return syscall.EPERM
		}
		return 0
	}},
	// Root where only CLONE_NEWIPC is refused (a made-up filter): the
	// folded tmpfs trial fails its clone, tmpfs mounts unfolded.
	"ipc-refused": {uid: 0, clone: func(flags uintptr, _ bool) error {
		if flags&cloneNewIPC != 0 {
			return cloneErr(syscall.EPERM)
		}
		return nil
	}, mount: mountAll},
	// A user with user.max_user_namespaces=0.
	"nobody-no-userns": {uid: 65534, clone: func(flags uintptr, _ bool) error {
		if flags&cloneNewUser != 0 {
			return cloneErr(syscall.ENOSPC)
		}
		return cloneErr(syscall.EPERM)
	}, mount: mountNone},
	// Every spawn times out: nothing is known.
	"timeouts": {uid: 1000, clone: func(uintptr, bool) error { return context.DeadlineExceeded }, mount: mountNone},
}

func run(t *testing.T, m model) *probes.Observation {
	t.Helper()
	ts, res := runTrials(context.Background(), m.spawn, nil)
	o := probes.NewObservation()
	judge(o, m.uid, record(o, ts, res))
	declared := map[string]bool{}
	for _, s := range (Probe{}).Facts() {
		declared[s.Key] = true
		if _, ok := o.Facts[s.Key]; !ok {
			t.Errorf("fact %s not set", s.Key)
		}
	}
	for k := range o.Facts {
		if !declared[k] {
			t.Errorf("undeclared fact %s", k)
		}
	}
	codes := map[string]bool{}
	for _, c := range (Probe{}).Codes() {
		codes[c.Code] = true
	}
	for _, f := range o.Findings {
		if !codes[f.Code] {
			t.Errorf("undeclared code %s", f.Code)
		}
		if f.Evidence.Source == "" {
			t.Errorf("%s has no evidence", f.Code)
		}
	}
	return o
}

func TestSandboxes(t *testing.T) {
	Y, N, U := probes.Yes, probes.No, probes.Unknown
	tests := []struct {
		name  string
		facts map[string]probes.Tri
		codes []string
		sum   string // the Observation.Summary
	}{
		{"host", map[string]probes.Tri{"ns.user": Y, "ns.user_map_root": Y, "ns.pid": Y,
			"ns.mount_proc": Y, "ns.userns_mount_sysfs": Y, "ns.userns_mount_cgroup2": Y}, nil, "all 7 namespaces, with and without a user namespace; tmpfs proc sysfs cgroup2 mountable"},
		{"runc-docker", map[string]probes.Tri{"ns.user": N, "ns.mount": N, "ns.mount_tmpfs": N,
			"ns.userns_mount_tmpfs": N, "ns.cgroup": N}, []string{"KP-NS-003"}, "user ns refused; plain: all refused; nothing mountable"},
		{"runc-rootless", map[string]probes.Tri{"ns.user": Y, "ns.user_map_root": N, "ns.userns_mount": N,
			"ns.mount": N, "ns.userns_pid": N}, []string{"KP-NS-002", "KP-NS-003"}, "user ns ok, root map refused; plain: all refused; in user ns: all refused; nothing mountable"},
		{"gvisor-do", map[string]probes.Tri{"ns.user": Y, "ns.pid": Y, "ns.mount_tmpfs": Y, "ns.mount_proc": Y,
			"ns.mount_cgroup2": N, "ns.userns_mount": Y, "ns.userns_mount_tmpfs": N, "ns.userns_mount_proc": N}, nil, "all 7 namespaces, with and without a user namespace; tmpfs proc sysfs without user ns only, cgroup2 not mountable"},
		{"gvisor-run", map[string]probes.Tri{"ns.mount": Y, "ns.pid": N, "ns.net": N, "ns.cgroup": Y,
			"ns.mount_tmpfs": N, "ns.mount_proc": N, "ns.userns_mount": Y, "ns.userns_mount_tmpfs": N}, []string{"KP-NS-003"}, "user ns ok; plain: mount cgroup ok, pid net ipc uts refused; in user ns: all ok; nothing mountable"},
		{"bwrap", map[string]probes.Tri{"ns.user": Y, "ns.mount": N, "ns.userns_mount_tmpfs": Y,
			"ns.userns_mount_proc": Y, "ns.userns_mount_sysfs": N, "ns.mount_sysfs": N}, []string{"KP-NS-004"}, "user ns ok; plain: all refused; in user ns: all ok; tmpfs proc cgroup2 in user ns only, sysfs not mountable"},
		{"podman", map[string]probes.Tri{"ns.mount": N, "ns.userns_mount_tmpfs": Y, "ns.userns_mount_proc": N,
			"ns.userns_mount_cgroup2": Y}, []string{"KP-NS-004", "KP-NS-005"}, "user ns ok; plain: all refused; in user ns: all ok; tmpfs cgroup2 in user ns only, proc sysfs not mountable"},
		{"nobody-no-userns", map[string]probes.Tri{"ns.user": N, "ns.user_map_root": N, "ns.mount": N},
			[]string{"KP-NS-001", "KP-NS-003"}, "user ns refused; plain: all refused; nothing mountable"},
		{"timeouts", map[string]probes.Tri{"ns.user": U, "ns.mount": U, "ns.mount_tmpfs": U, "ns.mount_proc": U}, nil, "user ns unknown; plain: all unknown; tmpfs proc sysfs cgroup2 mount unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := run(t, sandboxes[tt.name])
			for k, want := range tt.facts {
				if got := o.Facts.Tri(k); got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, tt.codes) {
				t.Errorf("codes %v, want %v (%+v)", got, tt.codes, o.Findings)
			}
			if o.Summary != tt.sum {
				t.Errorf("summary %q\nwant    %q", o.Summary, tt.sum)
			}
		})
	}
}

// A mount trial whose extra namespace is refused is retried in a mount
// namespace alone, and both attempts are in the evidence.
func TestFallbackEvidence(t *testing.T) {
	o := run(t, sandboxes["gvisor-run"])
	var lines []string
	for _, e := range o.Evidence {
		lines = append(lines, e.String())
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{
		"clone(CLONE_NEWNS|CLONE_NEWPID) mount proc: EPERM",
		"clone(CLONE_NEWNS) mount proc: EPERM: fail EPERM",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("evidence lacks %q:\n%s", want, all)
		}
	}
}

func TestNoUsernsFixNamesTheLimit(t *testing.T) {
	o := run(t, sandboxes["nobody-no-userns"])
	for _, f := range o.Findings {
		if f.Code == CodeNoUserns.Code && !strings.Contains(f.Fix, "user.max_user_namespaces") {
			t.Errorf("ENOSPC fix %q does not raise user.max_user_namespaces", f.Fix)
		}
	}
	// Root is not told to enable user namespaces.
	m := sandboxes["nobody-no-userns"]
	m.uid = 0
	for _, c := range obstest.Codes(run(t, m).Findings) {
		if c == CodeNoUserns.Code {
			t.Errorf("KP-NS-001 for root")
		}
	}
}

func TestCloneTri(t *testing.T) {
	tests := []struct {
		err  error
		want probes.Tri
	}{
		{nil, probes.Yes},
		{cloneErr(syscall.EPERM), probes.No},
		{cloneErr(syscall.EINVAL), probes.No}, // kernel without that namespace type
		{cloneErr(syscall.ENOSPC), probes.No}, // user.max_*_namespaces reached
		{cloneErr(syscall.EUSERS), probes.No},
		{syscall.EPERM, probes.No},
		{cloneErr(syscall.ENOMEM), probes.Unknown},
		{cloneErr(syscall.EACCES), probes.Unknown}, // exec refused, not clone
		{errors.New("op namespaces.noop exited -1"), probes.Unknown},
		{context.DeadlineExceeded, probes.Unknown},
	}
	for _, tt := range tests {
		if got := cloneTri(tt.err); got != tt.want {
			t.Errorf("cloneTri(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestParseMountLine(t *testing.T) {
	tests := []struct {
		in   string
		want MountResult
		err  bool
	}{
		{"ok", MountResult{Mounted: true}, false},
		{"ok\n", MountResult{Mounted: true}, false},
		{"ok umount EBUSY", MountResult{Mounted: true, UmountErrno: "EBUSY"}, false},
		{"fail EPERM", MountResult{Errno: "EPERM"}, false},
		{"fail ENODEV", MountResult{Errno: "ENODEV"}, false},
		{"", MountResult{}, true},
		{"fail", MountResult{}, true},
		{"okay", MountResult{}, true},
		{"ok umount", MountResult{}, true},
	}
	for _, tt := range tests {
		got, err := ParseMountLine(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseMountLine(%q) = %+v, %v", tt.in, got, err)
		}
	}
}

func FuzzParseMountLine(f *testing.F) {
	for _, s := range []string{"ok", "fail EPERM", "ok umount EBUSY", "", "fail  ", "ok\x00umount"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseMountLine(s)
		if err != nil {
			if r != (MountResult{}) {
				t.Errorf("error with a result: %+v", r)
			}
			return
		}
		if r.Mounted == (r.Errno != "") {
			t.Errorf("%q: mounted=%v with errno %q", s, r.Mounted, r.Errno)
		}
	})
}

func TestDeclarations(t *testing.T) {
	p := Probe{}
	if !probes.ValidID(p.ID()) || p.Mode() != probes.Active {
		t.Fatalf("id %q mode %s", p.ID(), p.Mode())
	}
	seen := map[string]bool{}
	for _, s := range p.Facts() {
		if seen[s.Key] || s.Doc == "" || s.Type != probes.TypeTri {
			t.Errorf("bad spec %+v", s)
		}
		seen[s.Key] = true
	}
	// The contract of the brief: these keys exist.
	for _, k := range []string{"ns.user", "ns.user_map_root", "ns.mount", "ns.pid", "ns.net", "ns.ipc", "ns.uts",
		"ns.cgroup", "ns.userns_mount", "ns.userns_pid", "ns.userns_net", "ns.userns_ipc", "ns.userns_uts",
		"ns.userns_cgroup", "ns.mount_tmpfs", "ns.mount_proc", "ns.mount_sysfs", "ns.mount_cgroup2",
		"ns.userns_mount_tmpfs", "ns.userns_mount_proc", "ns.userns_mount_sysfs", "ns.userns_mount_cgroup2"} {
		if !seen[k] {
			t.Errorf("fact %s not declared", k)
		}
	}
	for _, c := range p.Codes() {
		if !strings.HasPrefix(c.Code, "KP-NS-") || c.Fix == "" || c.Meaning == "" || c.Title == "" {
			t.Errorf("bad code %+v", c)
		}
	}
	for name := range Ops() {
		if !strings.HasPrefix(name, "namespaces.") {
			t.Errorf("op %s not prefixed", name)
		}
	}
}

// Where every clone works, the first round's 8 mount trials answer every
// fact. Where a tmpfs trial with ipc and uts folded in does not mount, it
// runs again unfolded; where no clone proves a namespace, its separate
// clone trial runs; mount trials whose extra namespace is refused are
// retried in a mount namespace alone.
func TestSpawnCount(t *testing.T) {
	for name, want := range map[string]int{"host": 8, "gvisor-do": 8 + 1, "runc-docker": 8 + 2 + 3 + 12, "bwrap": 8 + 1 + 3 + 5} {
		ts, _ := runTrials(context.Background(), sandboxes[name].spawn, nil)
		if len(ts) != want {
			var s []string
			for _, t := range ts {
				s = append(s, t.source())
			}
			t.Errorf("%s: %d spawns, want %d:\n%s", name, len(ts), want, strings.Join(s, "\n"))
		}
	}
}

// The folded ipc and uts clones never decide a mount: where the fold is
// refused (gVisor run refuses CLONE_NEWIPC and CLONE_NEWUTS without a user
// namespace), tmpfs is tried again in a mount namespace alone, and ipc and
// uts get clone trials of their own.
func TestFoldRefused(t *testing.T) {
	o := run(t, sandboxes["gvisor-run"])
	var lines []string
	for _, e := range o.Evidence {
		lines = append(lines, e.String())
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{
		"clone(CLONE_NEWNS|CLONE_NEWIPC|CLONE_NEWUTS) mount tmpfs: EPERM",
		"clone(CLONE_NEWNS) mount tmpfs: EPERM: fail EPERM",
		"clone(CLONE_NEWIPC): EPERM",
		"clone(CLONE_NEWUTS): EPERM",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("evidence lacks %q:\n%s", want, all)
		}
	}
	if got := o.Facts.Tri("ns.mount"); got != probes.Yes {
		t.Errorf("ns.mount = %v, want yes", got)
	}
}

// Folding changes no fact: in every sandbox model the facts equal those of
// running each trial unfolded and every separate clone trial.
func TestFoldKeepsFacts(t *testing.T) {
	for name, m := range sandboxes {
		var ts []trial
		for _, tr := range trials() {
			if tr.unfolded != nil {
				tr = *tr.unfolded
			}
			ts = append(ts, tr)
		}
		res := runAll(context.Background(), ts, m.spawn, nil)
		for i, tr := range ts {
			if tr.fallback != 0 && cloneTri(res[i].err) == probes.No {
				r := tr
				r.flags, r.fallback, r.implies = tr.fallback, 0, nil
				ts, res = append(ts, r), append(res, m.spawn(context.Background(), r))
			}
		}
		sep := separate()
		ts, res = append(ts, sep...), append(res, runAll(context.Background(), sep, m.spawn, nil)...)
		want := probes.NewObservation()
		record(want, ts, res)
		got := run(t, m)
		if !reflect.DeepEqual(got.Facts, want.Facts) {
			t.Errorf("%s: facts\n%v\nwant\n%v", name, got.Facts, want.Facts)
		}
	}
}

// Mount trials of the same clone flags share a spawn: every sandbox's
// facts and evidence are those of one spawn per trial, with fewer
// processes where retries in a mount namespace alone repeat the flags
// (gvisor-run: tmpfs, proc and sysfs).
func TestMountsShareSpawn(t *testing.T) {
	for name, m := range sandboxes {
		var mu sync.Mutex
		spawns := 0
		count := func(ctx context.Context, tr trial) outcome {
			mu.Lock()
			spawns++
			mu.Unlock()
			return m.spawn(ctx, tr)
		}
		many := func(ctx context.Context, ts []trial) []outcome {
			mu.Lock()
			spawns++
			mu.Unlock()
			flags := ts[0].flags
			var res []outcome
			for _, tr := range ts {
				if tr.flags != flags || tr.mapRoot != ts[0].mapRoot || tr.fstype == "" {
					t.Errorf("%s: %s grouped with flags %s", name, tr.source(), flagNames(flags))
				}
				res = append(res, m.spawn(ctx, tr))
			}
			return res
		}
		ts, res := runTrials(context.Background(), count, nil)
		one := spawns
		want := probes.NewObservation()
		judge(want, m.uid, record(want, ts, res))

		spawns = 0
		ts, res = runTrials(context.Background(), count, many)
		got := probes.NewObservation()
		judge(got, m.uid, record(got, ts, res))
		t.Logf("%s: %d spawns, %d with shared mounts", name, one, spawns)
		if !reflect.DeepEqual(got.Facts, want.Facts) || !reflect.DeepEqual(got.Evidence, want.Evidence) {
			t.Errorf("%s: shared mounts give\n%v\n%v\nwant\n%v\n%v", name, got.Facts, got.Evidence, want.Facts, want.Evidence)
		}
		if spawns > one || (name == "gvisor-run" && spawns >= one) {
			t.Errorf("%s: %d spawns with shared mounts, %d without", name, spawns, one)
		}
	}
}
