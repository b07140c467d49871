package sysctls

import (
	"context"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// hostValues are this development VM's values (Debian 12, Firecracker,
// kernel 6.18), as read from /proc/sys.
var hostValues = map[string]string{
	"vm.overcommit_memory":                "0\n",
	"vm.panic_on_oom":                     "0\n",
	"kernel.panic":                        "1\n",
	"kernel.panic_on_oops":                "0\n",
	"kernel.keys.root_maxkeys":            "1000000\n",
	"kernel.keys.root_maxbytes":           "25000000\n",
	"net.ipv4.ip_forward":                 "0\n",
	"net.bridge.bridge-nf-call-iptables":  "1\n",
	"net.netfilter.nf_conntrack_max":      "262144\n",
	"net.ipv4.ip_unprivileged_port_start": "1024\n",
	"kernel.cap_last_cap":                 "40\n",
	"fs.inotify.max_user_watches":         "192536\n",
	"fs.inotify.max_user_instances":       "128\n",
}

// sandbox is a fixture: the readable files, the read errors and the
// write errors of one sandbox of the zoo.
type sandbox struct {
	values   map[string]string        // readable sysctls
	readErr  map[string]syscall.Errno // sysctls whose read fails otherwise than ENOENT
	writeErr func(name string) syscall.Errno
	uidMap   string
}

// errFS serves a MapFS but fails the reads named in errs.
type errFS struct {
	fstest.MapFS
	errs map[string]syscall.Errno
}

func (e errFS) Open(name string) (fs.File, error) {
	if err, ok := e.errs[name]; ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return e.MapFS.Open(name)
}

func (e errFS) ReadFile(name string) ([]byte, error) {
	if err, ok := e.errs[name]; ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return e.MapFS.ReadFile(name)
}

func (s sandbox) root() fs.FS {
	m := fstest.MapFS{"proc/self/uid_map": {Data: []byte(s.uidMap)}}
	for n, v := range s.values {
		m[Path(n)] = &fstest.MapFile{Data: []byte(v), Mode: 0o644}
	}
	errs := map[string]syscall.Errno{}
	for n, e := range s.readErr {
		errs[Path(n)] = e
	}
	return errFS{m, errs}
}

// writer is a fake writeBack that records every write and refuses those
// the sandbox refuses.
type writer struct {
	t      *testing.T
	s      sandbox
	writes map[string]string
}

func (w *writer) write(path string, data []byte) error {
	name := strings.ReplaceAll(strings.TrimPrefix(path, "/proc/sys/"), "/", ".")
	if w.writes == nil {
		w.writes = map[string]string{}
	}
	w.writes[name] = string(data)
	if e := w.s.writeErr(name); e != 0 {
		return &os.PathError{Op: "open", Path: path, Err: e}
	}
	return nil
}

func except(drop ...string) map[string]string {
	m := map[string]string{}
	for k, v := range hostValues {
		m[k] = v
	}
	for _, d := range drop {
		delete(m, d)
	}
	return m
}

func always(e syscall.Errno) func(string) syscall.Errno {
	return func(string) syscall.Errno { return e }
}

var sandboxes = map[string]sandbox{
	"host": {values: hostValues, writeErr: always(0), uidMap: "         0          0 4294967295\n"},
	// Docker-like: /proc/sys is a read-only bind mount.
	"runc-docker": {values: hostValues, writeErr: always(syscall.EROFS), uidMap: "         0          0 4294967295\n"},
	// Rootless user namespace: owned by the initial namespace, so EACCES;
	// the net.* entries of a netns it owns are writable.
	"userns-user": {values: hostValues, uidMap: "         0       1001          1\n", writeErr: func(n string) syscall.Errno {
		if strings.HasPrefix(n, "net.") && n != "net.netfilter.nf_conntrack_max" {
			return 0
		}
		return syscall.EACCES
	}},
	// gVisor (runsc 20221219 do, read there): only these two exist, EIO
	// writing vm.overcommit_memory, its own copy of ip_forward.
	"gvisor": {values: map[string]string{
		"vm.overcommit_memory": "0\n",
		"net.ipv4.ip_forward":  "0\n",
	}, writeErr: func(n string) syscall.Errno {
		if n == "vm.overcommit_memory" {
			return syscall.EIO
		}
		return 0
	}, uidMap: "         0          0 4294967295\n"},
	// A sandbox whose /proc/sys/vm is unreadable: never written.
	"unreadable": {values: except("vm.overcommit_memory", "vm.panic_on_oom"),
		readErr:  map[string]syscall.Errno{"vm.overcommit_memory": syscall.EACCES, "vm.panic_on_oom": syscall.EPERM},
		writeErr: always(0), uidMap: "0 0 4294967295\n"},
	// Kubelet values already set, /proc/sys read-only: nothing to warn.
	"tuned-readonly": {values: func() map[string]string {
		m := except()
		for _, t := range KubeletTunables {
			m[t.Name] = strconv.FormatInt(t.Want, 10) + "\n"
		}
		m["net.ipv4.ip_forward"] = "1\n"
		m["fs.inotify.max_user_instances"] = "8192\n"
		m["fs.inotify.max_user_watches"] = "524288\n"
		return m
	}(), writeErr: always(syscall.EROFS), uidMap: "0 0 4294967295\n"},
}

func checkDeclared(t *testing.T, p probes.Probe, o *probes.Observation) {
	t.Helper()
	specs := probes.Schema{}
	for _, s := range p.Facts() {
		specs[s.Key] = s
	}
	for k, v := range o.Facts {
		s, ok := specs[k]
		if !ok {
			t.Errorf("undeclared fact %s", k)
			continue
		}
		if _, err := probes.Coerce(s, v); err != nil {
			t.Errorf("fact %s: %v", k, err)
		}
	}
	declared := map[string]bool{}
	for _, c := range p.Codes() {
		declared[c.Code] = true
	}
	for _, f := range o.Findings {
		if !declared[f.Code] || f.Fix == "" || f.Evidence.Source == "" {
			t.Errorf("finding %+v", f)
		}
	}
}

func TestPassive(t *testing.T) {
	tests := []struct {
		name    string
		present map[string]probes.Tri
		values  map[string]string
		codes   []string
		sum     string // the Observation.Summary
	}{
		{"host", map[string]probes.Tri{"vm.overcommit_memory": probes.Yes, "kernel.cap_last_cap": probes.Yes},
			map[string]string{"kernel.panic": "1", "net.netfilter.nf_conntrack_max": "262144"},
			[]string{"KP-SYS-004"}, "13 present; low: fs.inotify.max_user_instances=128 (< 512)"}, // max_user_instances=128
		{"gvisor", map[string]probes.Tri{"vm.overcommit_memory": probes.Yes, "kernel.panic": probes.No,
			"kernel.cap_last_cap": probes.No, "net.bridge.bridge-nf-call-iptables": probes.No},
			map[string]string{"vm.overcommit_memory": "0"},
			[]string{"KP-SYS-001", "KP-SYS-002", "KP-SYS-003", "KP-SYS-005"}, "present: vm.overcommit_memory net.ipv4.ip_forward, 11 absent"},
		{"unreadable", map[string]probes.Tri{"vm.overcommit_memory": probes.Unknown, "vm.panic_on_oom": probes.Unknown},
			nil, []string{"KP-SYS-004"}, "unreadable: vm.overcommit_memory vm.panic_on_oom, 11 present; low: fs.inotify.max_user_instances=128 (< 512)"},
		{"tuned-readonly", nil, map[string]string{"kernel.panic": "10"}, nil, "13 present"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sandboxes[tt.name]
			o, err := Probe{}.Run(context.Background(), &probes.Env{Root: s.root()})
			if err != nil {
				t.Fatal(err)
			}
			checkDeclared(t, Probe{}, o)
			for n, want := range tt.present {
				if got := o.Facts.Tri("sysctl." + n + ".present"); got != want {
					t.Errorf("%s.present = %v, want %v", n, got, want)
				}
				if _, has := o.Facts["sysctl."+n+".value"]; has != (want == probes.Yes) {
					t.Errorf("%s.value set = %v with present %v", n, has, want)
				}
			}
			for n, want := range tt.values {
				if got := o.Facts.String("sysctl." + n + ".value"); got != want {
					t.Errorf("%s.value = %q, want %q", n, got, want)
				}
			}
			if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, tt.codes) {
				t.Errorf("codes %v, want %v: %+v", got, tt.codes, o.Findings)
			}
			if o.Summary != tt.sum {
				t.Errorf("summary %q, want %q", o.Summary, tt.sum)
			}
		})
	}
}

// capLastCapCmd writes the highest capability of the bounding set.
const capLastCapCmd = `b=$((0x$(awk '/^CapBnd/{print $2}' /proc/self/status))) n=-1 && while [ $b -gt 0 ]; do b=$((b>>1)) n=$((n+1)); done && echo $n >/proc/sys/kernel/cap_last_cap`

// The gVisor fix shims /proc/sys/vm and /proc/sys/kernel once each, with
// every kubelet tunable and cap_last_cap in them. This exact command was
// run in runsc do: every file then reads the kubelet's value, and
// cap_last_cap 37.
func TestShimCommands(t *testing.T) {
	s := sandboxes["gvisor"]
	o, _ := Probe{}.Run(context.Background(), &probes.Env{Root: s.root()})
	want := "mount -t tmpfs -o size=64k,mode=0755 kprobe-sysctl /proc/sys/vm && echo 1 >/proc/sys/vm/overcommit_memory && echo 0 >/proc/sys/vm/panic_on_oom && " +
		"mount -t tmpfs -o size=64k,mode=0755 kprobe-sysctl /proc/sys/kernel && mkdir /proc/sys/kernel/keys && echo 10 >/proc/sys/kernel/panic && echo 1 >/proc/sys/kernel/panic_on_oops && echo 1000000 >/proc/sys/kernel/keys/root_maxkeys && echo 25000000 >/proc/sys/kernel/keys/root_maxbytes && " + capLastCapCmd
	n := 0
	for _, f := range o.Findings {
		if f.Code == CodeKubeletAbsent.Code || f.Code == CodeCapLastCapAbsent.Code {
			n++
			if !strings.HasSuffix(f.Fix, ": "+want) {
				t.Errorf("%s fix %q does not end with the shim", f.Code, f.Fix)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d shim findings, want 2", n)
	}
	// Only cap_last_cap absent: /proc/sys/kernel alone, with the kubelet's
	// values for the entries it hides.
	rs := map[string]Reading{}
	for n, v := range hostValues {
		rs[n] = Reading{Name: n, Value: strings.TrimSpace(v)}
	}
	rs[capLastCap] = Reading{Name: capLastCap, Err: &fs.PathError{Op: "open", Err: syscall.ENOENT}}
	if got := tmpfsShim(rs); !strings.HasPrefix(got, "mount -t tmpfs -o size=64k,mode=0755 kprobe-sysctl /proc/sys/kernel && ") ||
		strings.Contains(got, "/proc/sys/vm") || !strings.HasSuffix(got, capLastCapCmd) {
		t.Errorf("cap_last_cap shim %q", got)
	}
}

func TestWrites(t *testing.T) {
	tests := []struct {
		name   string
		states map[string]string
		codes  []string
		sum    string // the Observation.Summary
	}{
		{"host", map[string]string{"vm.overcommit_memory": Writable, "net.ipv4.ip_forward": Writable,
			"kernel.cap_last_cap": Readonly, "fs.inotify.max_user_instances": Writable}, nil, "12 writable, readonly: kernel.cap_last_cap"},
		{"runc-docker", map[string]string{"vm.overcommit_memory": Readonly, "net.ipv4.ip_forward": Readonly,
			"kernel.cap_last_cap": Readonly}, []string{"KP-SYS-006", "KP-SYS-007", "KP-SYS-008"}, "13 readonly"},
		{"userns-user", map[string]string{"vm.overcommit_memory": Readonly, "net.ipv4.ip_forward": Writable,
			"net.netfilter.nf_conntrack_max": Readonly}, []string{"KP-SYS-006", "KP-SYS-007"}, "10 readonly, 3 writable"},
		{"gvisor", map[string]string{"vm.overcommit_memory": Readonly, "kernel.panic": Absent,
			"net.ipv4.ip_forward": Writable, "kernel.cap_last_cap": Absent}, []string{"KP-SYS-006"}, "readonly: vm.overcommit_memory, 11 absent, writable: net.ipv4.ip_forward"},
		{"unreadable", map[string]string{"vm.overcommit_memory": Unknown, "vm.panic_on_oom": Unknown,
			"kernel.panic": Writable}, nil, "unknown: vm.overcommit_memory vm.panic_on_oom, 10 writable, readonly: kernel.cap_last_cap"},
		{"tuned-readonly", map[string]string{"kernel.panic": Readonly}, []string{"KP-SYS-007"}, "13 readonly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sandboxes[tt.name]
			w := &writer{t: t, s: s}
			root := s.root()
			ts := runWrites(root, w.write)
			o := probes.NewObservation()
			record(o, ts)
			in, err := userns(root)
			if err != nil {
				t.Fatal(err)
			}
			judgeWrites(o, ts, in)
			checkDeclared(t, WriteProbe{}, o)
			if len(o.Facts) != len(Names) {
				t.Errorf("%d facts, want %d", len(o.Facts), len(Names))
			}
			for n, want := range tt.states {
				if got := o.Facts.String("sysctl." + n); got != want {
					t.Errorf("sysctl.%s = %q, want %q", n, got, want)
				}
			}
			if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, tt.codes) {
				t.Errorf("codes %v, want %v: %+v", got, tt.codes, o.Findings)
			}
			if o.Summary != tt.sum {
				t.Errorf("summary %q, want %q", o.Summary, tt.sum)
			}
			// Nothing is written but exactly what was read; nothing
			// unreadable and never cap_last_cap.
			for n, data := range w.writes {
				if v, ok := s.values[n]; !ok || v != data {
					t.Errorf("wrote %q to %s, read %q (readable %v)", data, n, v, ok)
				}
				if n == capLastCap {
					t.Errorf("wrote cap_last_cap")
				}
			}
			for n := range s.values {
				if _, ok := w.writes[n]; !ok && n != capLastCap {
					t.Errorf("%s readable but not tried", n)
				}
			}
		})
	}
}

func TestKubeletFix(t *testing.T) {
	bad := []Tunable{{"vm.overcommit_memory", 1}, {"kernel.panic", 10}}
	fix := kubeletFix(bad, false)
	for _, want := range []string{
		"sysctl -w vm.overcommit_memory=1 kernel.panic=10",
		"mkdir -p /run/kprobe-sysctl && echo 1 >/run/kprobe-sysctl/vm.overcommit_memory && mount --bind /run/kprobe-sysctl/vm.overcommit_memory /proc/sys/vm/overcommit_memory && echo 10 >/run/kprobe-sysctl/kernel.panic",
	} {
		if !strings.Contains(fix, want) {
			t.Errorf("fix %q lacks %q", fix, want)
		}
	}
	if strings.Contains(fix, "KubeletInUserNamespace") {
		t.Errorf("feature gate offered outside a user namespace: %q", fix)
	}
	if !strings.HasPrefix(kubeletFix(bad, true), "nothing to do: kprobe launch sets the kubelet's KubeletInUserNamespace feature gate") {
		t.Errorf("user namespace fix does not start with the feature gate")
	}
}

func TestState(t *testing.T) {
	for errno, want := range map[syscall.Errno]string{
		0: Writable, syscall.EROFS: Readonly, syscall.EACCES: Readonly, syscall.EPERM: Readonly,
		syscall.EIO: Readonly, syscall.ENOENT: Absent, syscall.EINVAL: Unknown, syscall.EBUSY: Unknown,
	} {
		var err error
		if errno != 0 {
			err = &os.PathError{Op: "write", Path: "/proc/sys/x", Err: errno}
		}
		if got := State(err); got != want {
			t.Errorf("State(%v) = %s, want %s", err, got, want)
		}
	}
}

func TestPath(t *testing.T) {
	for name, want := range map[string]string{
		"vm.overcommit_memory":               "proc/sys/vm/overcommit_memory",
		"net.bridge.bridge-nf-call-iptables": "proc/sys/net/bridge/bridge-nf-call-iptables",
		"kernel.keys.root_maxkeys":           "proc/sys/kernel/keys/root_maxkeys",
	} {
		if got := Path(name); got != want {
			t.Errorf("Path(%s) = %s", name, got)
		}
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0\n", 0, true}, {"1000000\n", 1000000, true}, {"-1\n", -1, true}, {" 10 \n", 10, true},
		{"", 0, false}, {"\n", 0, false}, {"32768\t60999\n", 0, false}, {"1\t\n", 0, false}, {"0x10", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseInt(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseInt(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func FuzzParseInt(f *testing.F) {
	for _, v := range hostValues {
		f.Add(v)
	}
	f.Add("-2147483648\n")
	f.Add("32768\t60999\n")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseInt(s)
		if err != nil {
			return
		}
		back, err := ParseInt(strconv.FormatInt(v, 10) + "\n")
		if err != nil || back != v {
			t.Errorf("%q -> %d does not round-trip (%d, %v)", s, v, back, err)
		}
	})
}

func TestInUserNamespace(t *testing.T) {
	for in, want := range map[string]bool{
		"         0          0 4294967295\n":                                   false, // host, runc-docker, gVisor
		"0 0 4294967295":                                                       false,
		"         0       1001          1\n":                                   true, // userns-user, runc-rootless
		"         0          0          1\n":                                   true, // userns-root
		"         0       1001          1\n         1     100000      65536\n": true, // podman-rootless
		"":                            true, // created, no map written yet
		"garbage":                     false,
		"0 0":                         false,
		"0 0 4294967295 extra":        false,
		"1000 1000 1\n0 0 4294967295": true,
	} {
		if got := InUserNamespace(in); got != want {
			t.Errorf("InUserNamespace(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzInUserNamespace(f *testing.F) {
	f.Add("         0          0 4294967295\n")
	f.Add("         0       1001          1\n         1     100000      65536\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got := InUserNamespace(s)
		// Only the first line counts.
		first, _, _ := strings.Cut(s, "\n")
		if InUserNamespace(first) != got {
			t.Errorf("%q: the lines after the first changed the answer", s)
		}
	})
}

func TestDeclarations(t *testing.T) {
	seen := map[string]string{}
	for _, p := range []probes.Probe{Probe{}, WriteProbe{}} {
		if !probes.ValidID(p.ID()) {
			t.Errorf("bad id %q", p.ID())
		}
		for _, s := range p.Facts() {
			if other, dup := seen[s.Key]; dup {
				t.Errorf("fact %s declared by %s and %s", s.Key, other, p.ID())
			}
			seen[s.Key] = p.ID()
		}
		for _, c := range p.Codes() {
			if !strings.HasPrefix(c.Code, "KP-SYS-") || c.Title == "" || c.Meaning == "" || c.Fix == "" {
				t.Errorf("bad code %+v", c)
			}
		}
	}
	for _, n := range []string{"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
		"kernel.keys.root_maxkeys", "net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables",
		"net.netfilter.nf_conntrack_max", "net.ipv4.ip_unprivileged_port_start", "kernel.cap_last_cap",
		"fs.inotify.max_user_watches", "fs.inotify.max_user_instances"} {
		if seen["sysctl."+n] != "sysctls.write" || seen["sysctl."+n+".value"] != "sysctls" {
			t.Errorf("%s: state by %q, value by %q", n, seen["sysctl."+n], seen["sysctl."+n+".value"])
		}
	}
}
