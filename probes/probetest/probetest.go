// Package probetest helps probe packages test against the real kernel.
package probetest

import (
	"context"
	"os"
	"testing"

	"github.com/moby/sys/reexec"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/container"
	"github.com/kprobe/kprobe/probes/suite"
)

// Main is TestMain for packages whose tests run active probes: it registers
// the re-exec entry points so that the test binary can act as the child.
func Main(m *testing.M) {
	// libcontainer's "runc init" re-exec must run before anything else.
	container.InitIfChild()
	suite.Register()
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

// RequireRoot skips a test that needs root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// Live runs p against the live machine the way the scan does: passive
// probes in process, active ones in a re-exec'd child.
func Live(t testing.TB, p probes.Probe) probes.Result {
	t.Helper()
	env := probes.LiveEnv(t.TempDir())
	s := probes.Run(context.Background(), env, []probes.Probe{p}, probes.Options{})
	return s.Results[0]
}
