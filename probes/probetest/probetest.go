// Package probetest helps probe packages test against the real kernel:
// Main is the TestMain of tests that run active probes, Live runs a probe
// as the scan does, RunAs runs it as another user. It imports the suite, so
// only external (_test) packages can use it; helpers that need no probe
// package are in probetest/obstest.
package probetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
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

// Environment of the copy of the test binary that RunAs starts.
const (
	envRunAs   = "KPROBE_TEST_RUNAS"
	envDataDir = "KPROBE_TEST_DATADIR"
)

// RunAs runs p as uid (and gid uid) the way the scan does, like a rootless
// sandbox user: it re-runs the calling test in a copy of the test binary
// under that uid and returns the result p gave there, with typed facts.
// dataDir is the scan's data dir ("" for the default; see UserDir).
//
// In that copy RunAs itself runs p, prints its result and ends the test,
// so a test calls it before anything that needs root. The package's
// TestMain must be suitetest.Main for p to run when it is active.
func RunAs(t *testing.T, uid int, p probes.Probe, dataDir string) probes.Result {
	t.Helper()
	if os.Getenv(envRunAs) == strconv.Itoa(os.Getuid()) {
		env := probes.LiveEnv(os.Getenv(envDataDir))
		r := probes.Run(t.Context(), env, []probes.Probe{p}, probes.Options{})
		if err := json.NewEncoder(os.Stdout).Encode(r.Results[0]); err != nil {
			t.Fatal(err)
		}
		t.SkipNow() // the result is for the parent to judge
	}
	RequireRoot(t)
	dir := reachable(t)
	bin := filepath.Join(dir, filepath.Base(os.Args[0]))
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	var run []string
	for _, name := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(name)+"$")
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run="+strings.Join(run, "/"))
	cmd.Env = append(os.Environ(), envRunAs+"="+strconv.Itoa(uid), envDataDir+"="+dataDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, stderr.String())
	}
	var r probes.Result
	found := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), []byte("{")) {
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("no result from the test run as uid %d:\n%s\n%s", uid, out, stderr.String())
	}
	facts, errs := probes.SchemaOf([]probes.Probe{p}).Decode(r.Facts)
	for _, err := range errs {
		t.Error(err)
	}
	r.Facts = facts
	return r
}

// UserDir returns a fresh directory that uid owns and can reach. In the
// copy of the test binary that RunAs starts it returns "": RunAs passes
// the data dir there itself.
func UserDir(t *testing.T, uid int) string {
	t.Helper()
	if os.Getenv(envRunAs) != "" {
		return ""
	}
	RequireRoot(t)
	dir := reachable(t)
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// reachable returns a fresh temp directory that every user can enter.
func reachable(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
