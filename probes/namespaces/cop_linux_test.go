//go:build linux && cgo

package namespaces

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kprobe/kprobe/probes"
)

// TestCErrnoNames: the C ops name every errno as probes.Errno does.
func TestCErrnoNames(t *testing.T) {
	for e := 1; e < 134; e++ {
		if got, want := cErrnoName(e), probes.Errno(syscall.Errno(e)); got != want {
			t.Errorf("errno %d: C %q, Go %q", e, got, want)
		}
	}
}

// runOp runs this test binary as the op process SpawnOp starts, with
// GODEBUG=inittrace=1: a Go runtime that starts prints its package inits
// on stderr. As root it runs in a new mount namespace (the mount ops make
// "/" private where they run); as another user every mount is refused.
func runOp(t *testing.T, inGo bool, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = append([]string{probes.OpName}, args...)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	}
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	if inGo {
		cmd.Env = append(cmd.Env, "KPROBE_OP_IN_GO=1")
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return out.String(), errb.String()
}

// TestCOpsRunBeforeGo: the namespaces ops answer from C, before the Go
// runtime starts, unless KPROBE_OP_IN_GO=1; ops of other packages and
// arguments the Go ops refuse still reach Go.
func TestCOpsRunBeforeGo(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		inC   bool
		reply string
	}{
		{[]string{opNoop}, true, "ok\n"},
		{[]string{opNoop, "extra"}, true, "ok\n"},
		{[]string{opMount, "kprobe-no-such-fs", "/nonexistent-kprobe-target"}, true, "fail ENOENT\n"},
		{[]string{opMount, "tmpfs"}, false, "ERR "},
		{[]string{opMounts}, false, "ERR "},
		{[]string{opMounts, "tmpfs"}, false, "ERR "},
		{[]string{"no.such.op"}, false, "ERR unknown op no.such.op\n"},
	} {
		for _, inGo := range []bool{false, true} {
			out, errs := runOp(t, inGo, tc.args...)
			if !strings.HasPrefix(out, tc.reply) {
				t.Errorf("%q (KPROBE_OP_IN_GO %v): stdout %q, want %q", tc.args, inGo, out, tc.reply)
			}
			ranGo := strings.Contains(errs, "init ")
			if ranGo != (inGo || !tc.inC) {
				t.Errorf("%q (KPROBE_OP_IN_GO %v): Go runtime started %v; stderr %q", tc.args, inGo, ranGo, errs)
			}
		}
	}
}

// TestCOpsAgree runs the trials' ops in the clones a scan makes, once in
// C and once in Go, and compares their lines: the mounts that work, the
// ones refused (no such filesystem or target, proc outside its pid
// namespace, sysfs outside its net namespace), in a plain and in a user namespace. Root: it creates
// namespaces and mounts in them (nothing outside).
func TestCOpsAgree(t *testing.T) {
	if testing.Short() || os.Geteuid() != 0 {
		t.Skip("live: needs root, not -short")
	}
	dir := t.TempDir()
	var pairs []string
	for _, fs := range []string{"tmpfs", "proc", "sysfs", "cgroup2", "kprobe-no-such-fs"} {
		p := filepath.Join(dir, fs)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, fs, p)
	}
	pairs = append(pairs, "tmpfs", filepath.Join(dir, "missing"))
	t.Cleanup(func() { os.Unsetenv("KPROBE_OP_IN_GO") })
	uid := os.Getuid()
	for _, c := range []struct {
		name string
		attr func() *syscall.SysProcAttr
	}{
		{"mnt", func() *syscall.SysProcAttr { return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS} }},
		{"mnt+pid", func() *syscall.SysProcAttr {
			return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID}
		}},
		{"user+mnt", func() *syscall.SysProcAttr {
			return &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
			}
		}},
		{"user+mnt+pid+net", func() *syscall.SysProcAttr {
			return &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}},
			}
		}},
	} {
		var lines [2][]string
		for i, inGo := range []bool{false, true} {
			if inGo {
				os.Setenv("KPROBE_OP_IN_GO", "1")
			} else {
				os.Unsetenv("KPROBE_OP_IN_GO")
			}
			for j := 0; j < len(pairs); j += 2 {
				line, err := probes.SpawnOp(context.Background(), c.attr(), opMount, pairs[j], pairs[j+1])
				if err != nil {
					t.Fatalf("%s: %s %s: %v", c.name, opMount, pairs[j], err)
				}
				lines[i] = append(lines[i], line)
			}
			line, err := probes.SpawnOp(context.Background(), c.attr(), opMounts, pairs...)
			if err != nil {
				t.Fatalf("%s: %s: %v", c.name, opMounts, err)
			}
			lines[i] = append(lines[i], line)
			line, err = probes.SpawnOp(context.Background(), c.attr(), opNoop)
			if err != nil {
				t.Fatalf("%s: %s: %v", c.name, opNoop, err)
			}
			lines[i] = append(lines[i], line)
		}
		t.Logf("%s: %q", c.name, lines[0])
		if strings.Join(lines[0], "\n") != strings.Join(lines[1], "\n") {
			t.Errorf("%s: C %q, Go %q", c.name, lines[0], lines[1])
		}
	}
}
