package privileges

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// fakeSys answers the few Syscalls this probe uses.
type fakeSys struct{ uid int }

func (fakeSys) Statfs(string) (probes.Statfs, error) { return probes.Statfs{}, errors.ErrUnsupported }
func (fakeSys) Uname() (probes.Uname, error)         { return probes.Uname{}, errors.ErrUnsupported }
func (fakeSys) Syslog(int) (string, error)           { return "", syscall.EPERM }
func (fakeSys) TryOpen(string, int) error            { return errors.ErrUnsupported }
func (fakeSys) LookPath(string) (string, error)      { return "", errors.ErrUnsupported }
func (fakeSys) Environ() []string                    { return nil }
func (f fakeSys) Getuid() int                        { return f.uid }
func (fakeSys) Exec(context.Context, string, ...string) (probes.ExecResult, error) {
	return probes.ExecResult{}, errors.ErrUnsupported
}

// errFS is a MapFS whose listed paths fail with an errno, as procfs LSM
// attributes do (EINVAL without an LSM).
type errFS struct {
	fstest.MapFS
	errs map[string]error
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

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// statusOf renders the status lines this probe reads; seccomp is the
// "Seccomp / Seccomp_filters / NoNewPrivs" triple of sandbox-zoo.md, with
// "" for an absent line.
func statusOf(uid, capEff, seccomp, filters, nnp string) string {
	s := "Name:\tsh\nUid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\nGid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n" +
		"CapInh:\t0000000000000000\nCapPrm:\t" + capEff + "\nCapEff:\t" + capEff + "\nCapBnd:\t" + capEff + "\nCapAmb:\t0000000000000000\n"
	if nnp != "" {
		s += "NoNewPrivs:\t" + nnp + "\n"
	}
	s += "Seccomp:\t" + seccomp + "\n"
	if filters != "" {
		s += "Seccomp_filters:\t" + filters + "\n"
	}
	return s + "Cpus_allowed_list:\t0-1\n"
}

// tree is a sandbox's /proc/self (and /sys/fs) as sandbox-zoo.md
// describes it: no LSM (attr/current gives EINVAL), no apparmor subdir.
func tree(status, uidMap string, withSys bool) errFS {
	m := fstest.MapFS{
		"proc/self/status":  file(status),
		"proc/self/uid_map": file(uidMap),
	}
	if withSys {
		m["sys/fs/cgroup"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
	}
	return errFS{m, map[string]error{"proc/self/attr/current": syscall.EINVAL}}
}

const fullMap = "         0          0 4294967295\n"

func TestRunSandboxes(t *testing.T) {
	tests := []struct {
		sandbox  string
		root     fs.FS
		uid      int64
		userns   probes.Tri
		count    int64
		sysAdmin probes.Tri
		seccomp  string
		nnp      probes.Tri
		selinux  string
		codes    []string
	}{
		{"host", tree(hostStatus, fullMap, true), 0, probes.No, 40, probes.Yes, "disabled", probes.No, "disabled",
			[]string{"KP-PRIV-001"}},
		{"gvisor-do", tree(gvisorStatus, fullMap, true), 0, probes.No, 37, probes.Yes, "unreliable", probes.Unknown, "disabled",
			[]string{"KP-PRIV-005"}},
		{"gvisor-run", tree(statusOf("0", "00000000a80405fb", "0", "", ""), fullMap, true), 0, probes.No, 13, probes.No, "unreliable", probes.Unknown, "disabled",
			[]string{"KP-PRIV-001", "KP-PRIV-002", "KP-PRIV-005"}},
		{"userns-root", tree(statusOf("0", "000001ffffffffff", "0", "0", "0"), "         0          0          1\n", true), 0, probes.Yes, 41, probes.Yes, "disabled", probes.No, "disabled",
			[]string{"KP-PRIV-001"}},
		{"userns-user", tree(statusOf("0", "000001ffffffffff", "0", "0", "0"), "         0       1001          1\n", true), 0, probes.Yes, 41, probes.Yes, "disabled", probes.No, "disabled",
			[]string{"KP-PRIV-001"}},
		{"bwrap", tree(statusOf("1001", "0000000000000000", "0", "0", "1"), "      1001       1001          1\n", false), 1001, probes.Yes, 0, probes.No, "disabled", probes.Yes, "unknown",
			[]string{"KP-PRIV-001", "KP-PRIV-006"}},
		{"runc-docker", tree(statusOf("0", "00000000a80425fb", "2", "1", "0"), fullMap, true), 0, probes.No, 14, probes.No, "filter", probes.No, "disabled",
			[]string{"KP-PRIV-001", "KP-PRIV-002", "KP-PRIV-004"}},
		{"runc-privileged", tree(statusOf("0", "000001fffeffffff", "0", "0", "0"), fullMap, true), 0, probes.No, 40, probes.Yes, "disabled", probes.No, "disabled",
			[]string{"KP-PRIV-001"}},
		{"runc-rootless", tree(statusOf("0", "0000000020000420", "0", "0", "1"), "         0       1001          1\n", true), 0, probes.Yes, 3, probes.No, "disabled", probes.Yes, "disabled",
			[]string{"KP-PRIV-001", "KP-PRIV-006"}},
		{"podman", tree(statusOf("0", "00000000800405fb", "2", "1", "0"), fullMap, true), 0, probes.No, 11, probes.No, "filter", probes.No, "disabled",
			[]string{"KP-PRIV-001", "KP-PRIV-002", "KP-PRIV-004"}},
		{"podman-rootless", tree(statusOf("0", "00000000800405fb", "2", "1", "0"), "         0       1001          1\n         1     100000      65536\n", true), 0, probes.Yes, 11, probes.No, "filter", probes.No, "disabled",
			[]string{"KP-PRIV-001", "KP-PRIV-004"}},
		// A plain user on the host (setpriv capture): rootless mode, not
		// a blocker.
		{"host-nobody", tree(nobodyStatus, fullMap, true), 65534, probes.No, 0, probes.No, "disabled", probes.Yes, "disabled",
			[]string{"KP-PRIV-001", "KP-PRIV-003", "KP-PRIV-006"}},
	}
	summaries := map[string]string{
		"host":          "uid 0, initial user namespace, 40 capabilities without CAP_SYS_RESOURCE, seccomp disabled",
		"runc-docker":   "uid 0, initial user namespace, 14 capabilities without CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_RESOURCE, seccomp filter",
		"runc-rootless": "uid 0, in a user namespace (0 1001 1), 3 capabilities without CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_RESOURCE, seccomp disabled, no_new_privs",
		"host-nobody":   "uid 65534, initial user namespace, 0 capabilities, seccomp disabled, no_new_privs",
	}
	for _, tt := range tests {
		t.Run(tt.sandbox, func(t *testing.T) {
			o, err := Probe{}.Run(context.Background(), &probes.Env{Root: tt.root, Sys: fakeSys{uid: 4242}})
			if err != nil {
				t.Fatal(err)
			}
			f := o.Facts
			if uid, _ := f.Int("priv.uid"); uid != tt.uid {
				t.Errorf("priv.uid = %d, want %d", uid, tt.uid)
			}
			if n, _ := f.Int("priv.cap_count"); n != tt.count || len(f.List("priv.caps")) != int(tt.count) {
				t.Errorf("priv.cap_count = %d (%v), want %d", n, f.List("priv.caps"), tt.count)
			}
			for key, want := range map[string]probes.Tri{
				"priv.userns": tt.userns, "priv.cap_sys_admin": tt.sysAdmin, "priv.no_new_privs": tt.nnp,
			} {
				if got := f.Tri(key); got != want {
					t.Errorf("%s = %v, want %v", key, got, want)
				}
			}
			for key, want := range map[string]string{
				"priv.seccomp": tt.seccomp, "priv.apparmor": "none", "priv.selinux": tt.selinux,
			} {
				if got := f.String(key); got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
			if want, ok := summaries[tt.sandbox]; ok && o.Summary != want {
				t.Errorf("summary %q\nwant    %q", o.Summary, want)
			}
			if codes := obstest.Codes(o.Findings); !slices.Equal(codes, tt.codes) {
				t.Errorf("findings %v, want %v", codes, tt.codes)
			}
			checkDeclared(t, o)
		})
	}
}

// checkDeclared fails on a fact or code the probe does not declare, or a
// fact of the wrong type.
func checkDeclared(t *testing.T, o *probes.Observation) {
	t.Helper()
	specs := probes.SchemaOf([]probes.Probe{Probe{}})
	for k, v := range o.Facts {
		spec, ok := specs[k]
		if !ok {
			t.Errorf("undeclared fact %s", k)
			continue
		}
		if c, err := probes.Coerce(spec, v); err != nil || c == nil {
			t.Errorf("fact %s = %v (%T) is not a %s", k, v, v, spec.Type)
		}
	}
	codes := map[string]probes.Code{}
	for _, c := range (Probe{}).Codes() {
		codes[c.Code] = c
	}
	for _, fd := range o.Findings {
		c, ok := codes[fd.Code]
		if !ok || c.Severity != fd.Severity {
			t.Errorf("finding %s (%s) not declared with that severity", fd.Code, fd.Severity)
		}
		if fd.Evidence.Source == "" {
			t.Errorf("finding %s has no evidence", fd.Code)
		}
	}
}

func TestRunLSM(t *testing.T) {
	base := func() fstest.MapFS {
		return fstest.MapFS{
			"proc/self/status":  file(hostStatus),
			"proc/self/uid_map": file(fullMap),
			"sys/fs/cgroup":     &fstest.MapFile{Mode: fs.ModeDir | 0o755},
		}
	}
	tests := []struct {
		name              string
		root              fs.FS
		apparmor, selinux string
		code              string
	}{
		{"docker-default", func() fs.FS {
			m := base()
			m["proc/self/attr/apparmor/current"] = file("docker-default (enforce)\n")
			m["proc/self/attr/current"] = file("docker-default (enforce)\n")
			return m
		}(), "docker-default (enforce)", "disabled", "KP-PRIV-007"},
		{"apparmor unconfined", func() fs.FS {
			m := base()
			m["proc/self/attr/apparmor/current"] = file("unconfined\n")
			return m
		}(), "unconfined", "disabled", ""},
		{"old kernel apparmor", func() fs.FS {
			m := base()
			m["proc/self/attr/current"] = file("lxc-container-default-cgns (enforce)\n")
			return m
		}(), "lxc-container-default-cgns (enforce)", "disabled", "KP-PRIV-007"},
		{"selinux container label, no selinuxfs", func() fs.FS {
			m := base()
			m["proc/self/attr/current"] = file("system_u:system_r:container_t:s0:c1,c2\x00")
			return m
		}(), "none", "enabled", ""},
		{"selinux enforcing", func() fs.FS {
			m := base()
			m["proc/self/attr/current"] = file("unconfined_u:unconfined_r:unconfined_t:s0\x00")
			m["sys/fs/selinux/enforce"] = file("1")
			return m
		}(), "none", "enforcing", "KP-PRIV-008"},
		{"selinux permissive", func() fs.FS {
			m := base()
			m["sys/fs/selinux/enforce"] = file("0")
			return m
		}(), "none", "permissive", ""},
		{"attr unreadable", errFS{base(), map[string]error{
			"proc/self/attr/apparmor/current": syscall.EACCES,
			"sys/fs/selinux/enforce":          syscall.EACCES,
		}}, "unknown", "unknown", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Probe{}.Run(context.Background(), &probes.Env{Root: tt.root, Sys: fakeSys{}})
			if err != nil {
				t.Fatal(err)
			}
			if got := o.Facts.String("priv.apparmor"); got != tt.apparmor {
				t.Errorf("priv.apparmor = %q, want %q", got, tt.apparmor)
			}
			if got := o.Facts.String("priv.selinux"); got != tt.selinux {
				t.Errorf("priv.selinux = %q, want %q", got, tt.selinux)
			}
			found := ""
			for _, fd := range o.Findings {
				if fd.Code == "KP-PRIV-007" || fd.Code == "KP-PRIV-008" {
					found = fd.Code
				}
			}
			if found != tt.code {
				t.Errorf("LSM finding %q, want %q", found, tt.code)
			}
		})
	}
}

// TestRunUnreadable: without /proc the probe says it could not look, and
// never invents a "no".
func TestRunUnreadable(t *testing.T) {
	root := errFS{fstest.MapFS{}, map[string]error{
		"proc/self/status": os.ErrPermission, "proc/self/uid_map": os.ErrPermission,
	}}
	o, err := Probe{}.Run(context.Background(), &probes.Env{Root: root, Sys: fakeSys{uid: 1000}})
	if err == nil {
		t.Fatal("want an error when nothing could be read")
	}
	if o.Facts.Tri("priv.cap_sys_admin") != probes.Unknown || o.Facts.Tri("priv.userns") != probes.Unknown {
		t.Errorf("unreadable status turned into facts: %v", o.Facts)
	}
	if uid, ok := o.Facts.Int("priv.uid"); !ok || uid != 1000 {
		t.Errorf("priv.uid = %d, %v; want getuid's 1000", uid, ok)
	}
	for _, fd := range o.Findings {
		if fd.Severity != probes.Info {
			t.Errorf("finding %s from nothing", fd.Code)
		}
	}
}
