package identity

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// fakeSys answers uname, syslog and the environment from a capture.
type fakeSys struct {
	release   string
	syslog    string
	syslogErr error
	environ   []string
}

func (f fakeSys) Uname() (probes.Uname, error) {
	if f.release == "" {
		return probes.Uname{}, syscall.ENOSYS
	}
	return probes.Uname{Sysname: "Linux", Release: f.release, Machine: "x86_64"}, nil
}
func (f fakeSys) Syslog(int) (string, error)         { return f.syslog, f.syslogErr }
func (f fakeSys) Environ() []string                  { return f.environ }
func (fakeSys) Getuid() int                          { return 0 }
func (fakeSys) Statfs(string) (probes.Statfs, error) { return probes.Statfs{}, errors.ErrUnsupported }
func (fakeSys) TryOpen(string, int) error            { return errors.ErrUnsupported }
func (fakeSys) LookPath(string) (string, error)      { return "", errors.ErrUnsupported }
func (fakeSys) Exec(context.Context, string, ...string) (probes.ExecResult, error) {
	return probes.ExecResult{}, errors.ErrUnsupported
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func nsDir(m fstest.MapFS, names ...string) {
	for _, n := range names {
		m["proc/self/ns/"+n] = file("")
	}
}

// gvisorRunTree is /proc of `runsc run` with the docker-like spec, rebuilt
// from sandbox-zoo.md: 9p root, 10 filesystems without cgroup2, only net,
// pid and user namespaces, an empty /proc/self/cgroup, no /.dockerenv.
func gvisorRunTree() fstest.MapFS {
	m := fstest.MapFS{
		"proc/version":        file(gvVersion + "\n"),
		"proc/filesystems":    file("nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevpts\nnodev\tdevtmpfs\nnodev\tmqueue\nnodev\t9p\nnodev\toverlay\nnodev\tfuse\nnodev\tcgroup\n"),
		"proc/self/mountinfo": file("1 0 0:1 / / ro,noatime - 9p none ro,trans=fd,rfdno=4,wfdno=4,cache=fscache\n2 1 0:2 / /proc rw,noatime - proc none rw\n3 1 0:3 / /dev rw,noatime - tmpfs none rw,mode=0755\n4 1 0:4 / /sys ro,noatime - sysfs none ro\n5 1 0:5 / /tmp rw,noatime - tmpfs none rw\n"),
		"proc/self/cgroup":    file(""),
		"proc/self/status":    file("Name:\tsh\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapEff:\t00000000a80405fb\nSeccomp:\t0\n"),
		"proc/self/uid_map":   file("         0          0 4294967295\n"),
		"proc/1/cmdline":      file("/bin/sh\x00/zoo/fingerprint.sh\x00gvisor-run\x00"),
		"proc/cpuinfo":        file("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu vme de pse tsc msr pae hypervisor\n"),
	}
	nsDir(m, "net", "pid", "user")
	return m
}

// podmanTree is root podman with its default profile (sandbox-zoo.md).
func podmanTree() fstest.MapFS {
	m := fstest.MapFS{
		"proc/version":        file(fcVersion + "\n"),
		"proc/cmdline":        file(fcCmdline + "\n"),
		"proc/filesystems":    file("nodev\tcgroup\nnodev\tcgroup2\n\text4\nnodev\toverlay\n"),
		"proc/self/mountinfo": file("600 540 0:60 / / rw,relatime - overlay overlay rw,lowerdir=/var/tmp/zoo/podman/storage/overlay/l/ABC,upperdir=/var/tmp/zoo/podman/storage/overlay/1f2/diff,workdir=/var/tmp/zoo/podman/storage/overlay/1f2/work\n601 600 0:61 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n610 601 0:61 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw\n611 601 0:65 / /proc/acpi ro,relatime - tmpfs tmpfs ro\n612 601 0:62 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw\n"),
		"proc/self/cgroup":    file("9:name=systemd:/libpod_parent/libpod-20bd1c6c\n4:memory:/libpod_parent/libpod-20bd1c6c\n"),
		"proc/self/status":    file("Uid:\t0\t0\t0\t0\nCapEff:\t00000000800405fb\nNoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n"),
		"proc/self/uid_map":   file("         0          0 4294967295\n"),
		"proc/cpuinfo":        file("flags\t\t: fpu hypervisor\n"),
		"run/.containerenv":   file("engine=\"podman-4.3.1\"\n"),
	}
	nsDir(m, allNS...)
	return m
}

func TestRunTrees(t *testing.T) {
	hostEnv := []string{"HOME=/root", "PATH=/usr/local/bin:/usr/bin:/bin", "CONTAINER_NAME=stable-snake-bvjmzp-qnstbd"}
	tests := []struct {
		name              string
		root              fs.FS
		sys               fakeSys
		sandbox, vm, conf string
		codes             []string
		markerSubstr      string
	}{
		// Real files of this machine; CONTAINER_NAME is really in its
		// environment and must not count as a container marker.
		{"firecracker host (real files)", os.DirFS("testdata/firecracker-host"),
			fakeSys{release: "6.18.44-fc-v657", syslog: readTestdata(t, "firecracker-host.syslog"), environ: hostEnv},
			"vm", "firecracker", "high", []string{"KP-ID-001", "KP-ID-002"}, `ACPI tables come from "FIRECK"`},
		{"gvisor-run", gvisorRunTree(),
			fakeSys{release: "4.4.0", syslog: gvSyslog, environ: []string{"PATH=/bin"}},
			"gvisor", "unknown", "high", []string{"KP-ID-001"}, "Starting gVisor"},
		{"gvisor-run, syslog refused and no uname", gvisorRunTree(),
			fakeSys{syslogErr: syscall.EPERM},
			"gvisor", "unknown", "high", []string{"KP-ID-001"}, "gVisor's build string"},
		{"podman", podmanTree(),
			fakeSys{release: fcRelease, syslogErr: syscall.EPERM, environ: []string{"container=podman", "HOME=/root"}},
			"podman", "firecracker", "high", []string{"KP-ID-001"}, "container=podman"},
		{"nothing readable", fstest.MapFS{},
			fakeSys{syslogErr: syscall.EPERM},
			"unknown", "unknown", "low", []string{"KP-ID-003"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Probe{}.Run(context.Background(), &probes.Env{Root: tt.root, Sys: tt.sys})
			if err != nil {
				t.Fatal(err)
			}
			f := o.Facts
			if f.String("identity.sandbox") != tt.sandbox || f.String("identity.vm") != tt.vm || f.String("identity.confidence") != tt.conf {
				t.Errorf("got %s/%s/%s, want %s/%s/%s; markers %q", f.String("identity.sandbox"), f.String("identity.vm"),
					f.String("identity.confidence"), tt.sandbox, tt.vm, tt.conf, f.List("identity.markers"))
			}
			if f.String("identity.ide") != "none" {
				t.Errorf("ide %q", f.String("identity.ide"))
			}
			if tt.markerSubstr != "" && !strings.Contains(strings.Join(f.List("identity.markers"), "\n"), tt.markerSubstr) {
				t.Errorf("no marker mentions %q: %q", tt.markerSubstr, f.List("identity.markers"))
			}
			for _, fd := range o.Findings {
				if fd.Severity != probes.Info {
					t.Errorf("%s is %s: identity never blocks or warns", fd.Code, fd.Severity)
				}
			}
			if codes := obstest.Codes(o.Findings); !slices.Equal(codes, tt.codes) {
				t.Errorf("findings %v, want %v", codes, tt.codes)
			}
			specs := probes.SchemaOf([]probes.Probe{Probe{}})
			for k, v := range f {
				if _, err := probes.Coerce(specs[k], v); err != nil {
					t.Errorf("fact %s: %v", k, err)
				}
			}
		})
	}
}
