//go:build linux

package shims

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"
)

// The tests change mounts. TestMain re-runs the test binary in a new mount
// namespace (PrivateNS), so nothing reaches the host, and checks afterwards
// that the host's mount table did not change under the paths the tests
// use. Where the sandbox refuses CLONE_NEWNS the tests run in place and
// those that need a private namespace skip.

const envChild = "KPROBE_SHIMS_TEST_CHILD"

// inPrivateNS is set when this process runs in a namespace of its own.
var inPrivateNS bool

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == WrapperSubcommand {
		os.Exit(WrapperMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "shims-test-") {
		os.Exit(helperMain(os.Args[1], os.Args[2:]))
	}
	switch os.Getenv(envChild) {
	case "1":
		// gVisor without CAP_SYS_ADMIN clones the namespace but refuses
		// every mount in it: no use.
		if err := PrivateNS(); err != nil {
			fmt.Fprintln(os.Stderr, "shims test: new mount namespace, but PrivateNS:", err)
		} else {
			inPrivateNS = true
		}
		os.Exit(m.Run())
	case "0":
		os.Exit(m.Run())
	}
	// The child's temp dirs go under a directory of its own, the only part
	// of /tmp watched (other tests on the host mount under /tmp).
	tmp, err := os.MkdirTemp("", "kprobe-shims-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	watchTmp = tmp
	before, _ := watchedMounts()
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envChild+"=1", "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.RemoveAll(tmp)
		os.Exit(ee.ExitCode())
	default:
		// No new mount namespace here (EPERM: no CAP_SYS_ADMIN).
		fmt.Fprintf(os.Stderr, "shims test: no private mount namespace (%v): running in place\n", err)
		os.RemoveAll(tmp)
		os.Setenv(envChild, "0")
		os.Exit(m.Run())
	}
	after, _ := watchedMounts()
	if d := diff(before, after); d != "" {
		fmt.Fprintln(os.Stderr, "shims test: the tests changed the mount table outside their namespace:\n"+d)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	os.RemoveAll(tmp)
	os.Exit(0)
}

// helperMain is what the tests run as a child program.
func helperMain(mode string, _ []string) int {
	if mode == "shims-test-cgns" {
		return cgnsChild()
	}
	return 2
}

// watchTmp is the temp dir of the child's tests.
var watchTmp string

// watchedMounts lists the mounts under the paths the tests touch.
func watchedMounts() ([]string, error) {
	ms, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		p := m.Mountpoint
		if p == "/" || strings.HasPrefix(p, "/dev") || strings.HasPrefix(p, "/proc/sys") ||
			strings.HasPrefix(p, watchTmp) || strings.HasPrefix(p, "/sys/fs/cgroup") {
			out = append(out, fmt.Sprintf("%s %s %s %s", p, m.FSType, m.Source, propagationOf(m.Optional)))
		}
	}
	sort.Strings(out)
	return out, nil
}

func diff(a, b []string) string {
	in := map[string]int{}
	for _, x := range a {
		in[x]++
	}
	for _, x := range b {
		in[x]--
	}
	var d []string
	for x, n := range in {
		switch {
		case n > 0:
			d = append(d, "- "+x)
		case n < 0:
			d = append(d, "+ "+x)
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

func needPrivateNS(tb testing.TB) {
	tb.Helper()
	if !inPrivateNS {
		tb.Skip("needs a private mount namespace")
	}
}

func needRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root")
	}
}
