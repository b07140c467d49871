package app

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestLightKprobeRunsKprobeCluster builds kprobe as make build does
// (-tags nocluster) beside kprobe-cluster and checks that a cluster
// command run through kprobe answers exactly as kprobe-cluster itself:
// help, shell completion, output and exit code. Without kprobe-cluster
// beside it or on PATH, kprobe says where it looked.
func TestLightKprobeRunsKprobeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	dir := t.TempDir()
	light, cluster := filepath.Join(dir, "kprobe"), filepath.Join(dir, ClusterExe)
	for _, b := range [][]string{
		{"build", "-tags", "nocluster", "-o", light, "../../kprobe"},
		{"build", "-o", cluster, "../../kprobe-cluster"},
	} {
		if out, err := exec.Command("go", b...).CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", b, err, out)
		}
	}
	run := func(bin string, env []string, args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%s %v: %v", bin, args, err)
		}
		return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
	}
	env := []string{"NO_COLOR=1", DataDirEnv + "=" + filepath.Join(dir, "none")}
	for _, args := range [][]string{
		{"--help"},
		{"launch", "--help"},
		{"help", "status"},
		{"install", "k3s", "--help"},
		{"__complete", ""},
		{"__complete", "launch", "--e"},
		{"__complete", "launch", "--engine", ""},
		{"status"},
		{"stop", "--no-such-flag"},
		{"kubectl"},
	} {
		lo, le, lc := run(light, env, args...)
		co, ce, cc := run(cluster, env, args...)
		if lo != co || le != ce || lc != cc {
			t.Errorf("kprobe %q: exit %d, stdout %q, stderr %q\nkprobe-cluster: exit %d, stdout %q, stderr %q", args, lc, lo, le, cc, co, ce)
		}
	}
	alone := filepath.Join(t.TempDir(), "kprobe")
	if err := os.Link(light, alone); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(alone, []string{"PATH=" + t.TempDir()}, "launch")
	if code != ExitInternal || !bytes.Contains([]byte(errOut), []byte("neither beside "+alone+" nor on PATH")) {
		t.Errorf("kprobe launch without kprobe-cluster: exit %d, %q", code, errOut)
	}
}
