package tools

import (
	"context"
	"errors"
	"io/fs"
	"os/exec"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{
		"Client Version: v1.32.4-dispatcher\nKustomize Version: v5.5.0\n": "Client Version: v1.32.4-dispatcher",
		"\n\n  iptables v1.8.9 (nf_tables)  \n":                           "iptables v1.8.9 (nf_tables)",
		"":                                                                "",
		strings.Repeat("x", 500):                                          strings.Repeat("x", maxVersionLen),
	} {
		if got := FirstLine(in); got != want {
			t.Errorf("%q: got %q", in, got)
		}
	}
}

func TestVersionLine(t *testing.T) {
	fo := "fusermount3 version: 3.14.0\nfuse-overlayfs: version 1.10\nFUSE library version 3.14.0\n"
	if got := VersionLine("fuse-overlayfs", fo); got != "fuse-overlayfs: version 1.10" {
		t.Errorf("fuse-overlayfs: %q", got)
	}
	if got := VersionLine("kubectl", "Client Version: v1.32.4-dispatcher\nKustomize Version: v5.5.0\n"); got != "Client Version: v1.32.4-dispatcher" {
		t.Errorf("kubectl: %q", got)
	}
}

func TestShortVersion(t *testing.T) {
	for line, want := range map[string]string{
		"Client Version: v1.32.4-dispatcher":                             "v1.32.4",
		"runc version 1.1.5+ds1":                                         "1.1.5",
		"containerd github.com/containerd/containerd 1.6.20~ds1 2806fc1": "1.6.20",
		"runsc version 0.0~20221219.0":                                   "0.0~20221219.0",
		"fuse-overlayfs: version 1.10":                                   "1.10",
		"k3s version v1.30.2+k3s1 (faeaf1b0)":                            "v1.30.2",
		"iptables v1.8.9 (nf_tables)":                                    "v1.8.9",
		"etcd Version: 3.5.9,":                                           "3.5.9",
		"crun: unknown option":                                           "",
		"":                                                               "",
	} {
		if got := ShortVersion(line); got != want {
			t.Errorf("ShortVersion(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestOldIptables(t *testing.T) {
	for in, want := range map[string]bool{
		"iptables v1.8.9 (nf_tables)":  false,
		"iptables v1.8.4 (legacy)":     true,
		"iptables v1.8.2 (nf_tables)":  true,
		"iptables v1.8.0":              true,
		"iptables v1.6.1":              false,
		"iptables v1.8.10 (nf_tables)": false,
		"iptables v1.8.3rc1":           true,
		"bash: iptables: not found":    false,
		"":                             false,
	} {
		if got := OldIptables(in); got != want {
			t.Errorf("%q: got %v", in, got)
		}
	}
}

func FuzzFirstLine(f *testing.F) {
	f.Add("Client Version: v1.32.4\nKustomize Version: v5.5.0\n")
	f.Fuzz(func(t *testing.T, s string) {
		l := FirstLine(s)
		if len(l) > maxVersionLen || strings.Contains(l, "\n") {
			t.Fatalf("%q", l)
		}
		_ = OldIptables(s)
	})
}

// fakeSys answers LookPath and Exec from tables; "hang" blocks until the
// context ends, as a wedged binary would.
type fakeSys struct {
	paths   map[string]string
	outputs map[string]probes.ExecResult
	running atomic.Int32
	maxPar  atomic.Int32
	calls   atomic.Int32
}

func (*fakeSys) Statfs(string) (probes.Statfs, error) { return probes.Statfs{}, errors.ErrUnsupported }
func (*fakeSys) Uname() (probes.Uname, error)         { return probes.Uname{}, errors.ErrUnsupported }
func (*fakeSys) Syslog(int) (string, error)           { return "", errors.ErrUnsupported }
func (*fakeSys) TryOpen(string, int) error            { return errors.ErrUnsupported }
func (*fakeSys) Environ() []string                    { return nil }
func (*fakeSys) Getuid() int                          { return 0 }
func (f *fakeSys) LookPath(name string) (string, error) {
	if p, ok := f.paths[name]; ok {
		return p, nil
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}
func (f *fakeSys) Exec(ctx context.Context, name string, args ...string) (probes.ExecResult, error) {
	f.calls.Add(1)
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		m := f.maxPar.Load()
		if n <= m || f.maxPar.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	r, ok := f.outputs[name+" "+strings.Join(args, " ")]
	if !ok {
		return probes.ExecResult{}, exec.ErrNotFound
	}
	if r.Stdout == "hang" {
		<-ctx.Done()
		// What exec.CommandContext reports for a killed child.
		return probes.ExecResult{ExitCode: -1}, nil
	}
	return r, nil
}

func TestRun(t *testing.T) {
	exe := &fstest.MapFile{Data: []byte("ELF"), Mode: 0o755}
	sys := &fakeSys{
		paths: map[string]string{
			"kubectl": "/usr/bin/kubectl", "iptables": "/usr/sbin/iptables", "runc": "/usr/sbin/runc",
			"helm": "/usr/local/bin/helm", "crun": "/usr/bin/crun",
		},
		outputs: map[string]probes.ExecResult{
			"/usr/bin/kubectl version --client":   {Stdout: "Client Version: v1.32.4-dispatcher\nKustomize Version: v5.5.0\n"},
			"/usr/sbin/iptables --version":        {Stdout: "iptables v1.8.9 (nf_tables)\n"},
			"/usr/sbin/runc --version":            {Stdout: "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n"},
			"/usr/local/bin/helm version --short": {Stdout: "hang"},
			"/usr/bin/crun --version":             {Stderr: "crun: unknown option\n", ExitCode: 1},
			// Not on a non-root PATH, found in /usr/sbin through Root.
			"/usr/sbin/slirp4netns --version": {Stdout: "slirp4netns version 1.2.0\ncommit: 656041d45cfca7a4176f6b7eed9e4fe6c11e8383\n"},
		},
	}
	root := fstest.MapFS{
		"usr/sbin/slirp4netns":               exe,
		"usr/sbin/etcd":                      {Data: []byte("not executable"), Mode: 0o644},
		"opt/cni/bin":                        {Mode: fs.ModeDir | 0o755}, // empty: skipped
		"usr/lib/cni/bridge":                 exe,
		"usr/lib/cni/host-local":             exe,
		"usr/lib/cni/loopback":               exe,
		"usr/lib/cni/portmap":                exe,
		"usr/lib/cni/bandwidth":              exe,
		"usr/libexec/cni/should-not-be-used": exe,
	}
	env := &probes.Env{Root: root, Sys: sys}
	o, err := Probe{}.Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if sys.calls.Load() != 0 {
		t.Errorf("the passive probe ran %d programs", sys.calls.Load())
	}
	if want := "kubectl, helm, runc, crun, slirp4netns, iptables; no k3s"; o.Summary != want {
		t.Errorf("passive summary %q, want %q", o.Summary, want)
	}
	passiveCodes := obstest.Codes(o.Findings)
	start := time.Now()
	v, err := Versions{}.Run(context.Background(), env)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	o.Facts.Merge(v.Facts)
	want := map[string]any{
		"tool.kubectl.path": "/usr/bin/kubectl", "tool.kubectl.version": "Client Version: v1.32.4-dispatcher",
		"tool.iptables.version": "iptables v1.8.9 (nf_tables)", "tool.runc.version": "runc version 1.1.5+ds1",
		// Hung: killed at the timeout, no version.
		"tool.helm.path": "/usr/local/bin/helm", "tool.helm.version": "",
		// Non-zero exit: the error text is not a version.
		"tool.crun.path": "/usr/bin/crun", "tool.crun.version": "",
		"tool.slirp4netns.path": "/usr/sbin/slirp4netns", "tool.slirp4netns.version": "slirp4netns version 1.2.0",
		"tool.etcd.path": "", "tool.k3s.path": "", "tool.k3s.version": "",
		"tools.cni_dir": "/usr/lib/cni", "tools.cni_plugins": []string{"bandwidth", "bridge", "host-local", "loopback", "portmap"},
	}
	for k, v := range want {
		if got := o.Facts[k]; !reflect.DeepEqual(got, v) {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	// Every declared fact is set.
	for _, spec := range append((Probe{}).Facts(), (Versions{}).Facts()...) {
		if _, ok := o.Facts[spec.Key]; !ok {
			t.Errorf("%s not set", spec.Key)
		}
	}
	if !reflect.DeepEqual(passiveCodes, []string{CodeNoEngine.Code}) || len(v.Findings) != 0 {
		t.Errorf("codes %v %v", passiveCodes, v.Findings)
	}
	if want := "kubectl v1.32.4, helm, runc 1.1.5, crun, slirp4netns 1.2.0, iptables v1.8.9; no k3s"; v.Summary != want {
		t.Errorf("summary %q, want %q", v.Summary, want)
	}
	// Parallel: five version commands, one hanging for the whole timeout.
	if took > versionTimeout+time.Second {
		t.Errorf("took %s", took)
	}
	if sys.maxPar.Load() < 2 {
		t.Errorf("version commands ran one at a time")
	}
}

func TestRunCNI(t *testing.T) {
	exe := &fstest.MapFile{Data: []byte("ELF"), Mode: 0o755}
	for _, tt := range []struct {
		name  string
		paths map[string]string
		root  fstest.MapFS
		codes []string
	}{
		{"nothing at all", nil, fstest.MapFS{}, []string{CodeNoEngine.Code, CodeNoCNI.Code}},
		{"k3s brings its own CNI", map[string]string{"k3s": "/usr/local/bin/k3s"}, fstest.MapFS{}, nil},
		{"upstream engine, flannel only", map[string]string{"kube-apiserver": "/a", "kubelet": "/b"},
			fstest.MapFS{"opt/cni/bin/flannel": exe, "opt/cni/bin/loopback": exe}, []string{CodeCNIIncomplete.Code}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Probe{}.Run(context.Background(), &probes.Env{Root: tt.root, Sys: &fakeSys{paths: tt.paths}})
			if err != nil {
				t.Fatal(err)
			}
			if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, tt.codes) {
				t.Errorf("codes %v, want %v (%v)", got, tt.codes, o.Findings)
			}
		})
	}
}

func TestRunOldIptables(t *testing.T) {
	sys := &fakeSys{paths: map[string]string{"iptables": "/sbin/iptables", "k3s": "/usr/local/bin/k3s"},
		outputs: map[string]probes.ExecResult{"/sbin/iptables --version": {Stdout: "iptables v1.8.2 (nf_tables)\n"},
			"/usr/local/bin/k3s --version": {Stdout: "k3s version v1.30.4+k3s1 (98262b5d)\ngo version go1.22.5\n"}}}
	o, err := Versions{}.Run(context.Background(), &probes.Env{Root: fstest.MapFS{}, Sys: sys})
	if err != nil {
		t.Fatal(err)
	}
	if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, []string{CodeOldIptables.Code}) {
		t.Errorf("codes %v", got)
	}
	if v := o.Facts.String("tool.k3s.version"); v != "k3s version v1.30.4+k3s1 (98262b5d)" {
		t.Errorf("k3s version %q", v)
	}
}

func TestMetadata(t *testing.T) {
	p := Probe{}
	if !probes.ValidID(p.ID()) {
		t.Error("bad ID")
	}
	for _, c := range p.Codes() {
		if !strings.HasPrefix(c.Code, "KP-TOOL-") || c.Fix == "" || c.Meaning == "" {
			t.Errorf("bad code %+v", c)
		}
	}
	if n := len(p.Facts()); n != len(Tools)+2 {
		t.Errorf("%d facts", n)
	}
	if n := len(Versions{}.Facts()); n != len(Tools) {
		t.Errorf("%d version facts", n)
	}
	probes.SchemaOf([]probes.Probe{p, Versions{}})
}
