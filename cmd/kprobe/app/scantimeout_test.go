//go:build !nocluster

package app

import (
	"strings"
	"testing"
)

// KPROBE_SCAN_TIMEOUT sets the per-probe limit of every scan a command
// runs: scan's --timeout and the --scan-timeout of plan and launch (their
// --profile auto scan); a value that is no duration keeps 10s.
func TestScanTimeoutDefault(t *testing.T) {
	s := IOStreams{In: strings.NewReader(""), Out: &strings.Builder{}, ErrOut: &strings.Builder{}}
	for env, want := range map[string]string{"": "10s", "90s": "1m30s", "2m": "2m0s", "soon": "10s", "-5s": "10s"} {
		t.Setenv(ScanTimeoutEnv, env)
		for cmd, flag := range map[string]string{"scan": "timeout", "plan": "scan-timeout", "launch": "scan-timeout"} {
			var got string
			switch cmd {
			case "scan":
				got = newScanCommand(s).Flags().Lookup(flag).DefValue
			case "plan":
				got = newPlanCommand(s).Flags().Lookup(flag).DefValue
			case "launch":
				got = newLaunchCommand(s).Flags().Lookup(flag).DefValue
			}
			if got != want {
				t.Errorf("%s=%q: %s --%s defaults to %s, want %s", ScanTimeoutEnv, env, cmd, flag, got, want)
			}
		}
	}
}
