//go:build linux && cgo

package container

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/kprobe/kprobe/probes"
)

// TestCHello runs this test binary as the container's process, as pid 1
// of a new pid namespace and as an ordinary process, with
// GODEBUG=inittrace=1 (a Go runtime that starts prints its package inits
// on stderr): as pid 1 the C op answers ok before Go starts, unless
// KPROBE_OP_IN_GO=1, where the Go op answers the same; otherwise the Go
// op says it is not pid 1. Root, for the pid namespace.
func TestCHello(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a pid namespace")
	}
	for _, tc := range []struct {
		pid1, inGo bool
		reply      string
		ranGo      bool
	}{
		{true, false, "ok\n", false},
		{true, true, "ok\n", true},
		{false, false, "ERR container process is pid ", true},
		{false, true, "ERR container process is pid ", true},
	} {
		cmd := exec.Command("/proc/self/exe")
		cmd.Args = []string{probes.OpName, "container.hello"}
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		if tc.inGo {
			cmd.Env = append(cmd.Env, "KPROBE_OP_IN_GO=1")
		}
		if tc.pid1 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		_ = cmd.Run()
		if !strings.HasPrefix(out.String(), tc.reply) {
			t.Errorf("pid 1 %v, KPROBE_OP_IN_GO %v: stdout %q, want %q", tc.pid1, tc.inGo, out.String(), tc.reply)
		}
		if ranGo := strings.Contains(errb.String(), "init "); ranGo != tc.ranGo {
			t.Errorf("pid 1 %v, KPROBE_OP_IN_GO %v: Go runtime started %v; stderr %q", tc.pid1, tc.inGo, ranGo, errb.String())
		}
	}
}
