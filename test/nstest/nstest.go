// Package nstest runs a test in a throw-away mount namespace, so that what
// it mounts (a tmpfs over /var/lib, a bind mount in a data dir) never
// exists on the host.
package nstest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// envInside names the test that the copy of the test binary runs inside
// the namespace.
const envInside = "KPROBE_TEST_IN_MOUNT_NS"

// InMountNamespace reports whether the calling test runs inside its
// throw-away mount namespace. Outside it, it runs the same test again in
// one (unshare --mount, private propagation; root only, else the test is
// skipped), fails the test when that run does not pass, and returns false:
// the caller returns at once.
func InMountNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envInside) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare")
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), envInside+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("in a mount namespace: %v\n%s", err, out)
	}
	return false
}
