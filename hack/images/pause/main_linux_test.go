package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary is the pause program when this variable is set.
const asPause = "KPROBE_PAUSE_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asPause) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// pauseCmd runs this test binary as pause, through wrap (a command
// prefix such as unshare) when given.
func pauseCmd(t *testing.T, wrap []string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append(append([]string(nil), wrap...), self), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), asPause+"=1")
	return cmd
}

func TestVersion(t *testing.T) {
	out, err := pauseCmd(t, nil, "-v").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "pause (kprobe) v"+version {
		t.Errorf("-v printed %q", got)
	}
}

// catches reports whether pid has handlers for all these signals
// (/proc/PID/status SigCgt).
func catches(pid int, sigs ...syscall.Signal) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return false
			}
			for _, s := range sigs {
				if mask&(1<<(uint(s)-1)) == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

func waitCatching(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if catches(pid, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD) {
			return
		}
	}
	t.Fatalf("pid %d does not catch SIGINT, SIGTERM and SIGCHLD after 10s", pid)
}

func TestExitsZeroOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := pauseCmd(t, nil)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitCatching(t, cmd.Process.Pid)
			// A SIGCHLD with no child to reap changes nothing.
			_ = cmd.Process.Signal(syscall.SIGCHLD)
			time.Sleep(50 * time.Millisecond)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("pause after %v: %v\n%s", sig, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "Shutting down, got signal: "+sig.String()) {
				t.Errorf("stderr %q", stderr.String())
			}
		})
	}
}

// TestReapsOrphans runs pause as PID 1 of a new PID namespace, makes an
// orphan in that namespace, and checks that pause inherits it and reaps
// it once it exits.
func TestReapsOrphans(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	for _, b := range []string{"unshare", "nsenter", "sh", "sleep"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("needs %s: %v", b, err)
		}
	}
	unshare := pauseCmd(t, []string{"unshare", "--pid", "--fork", "--kill-child", "--"})
	var stderr bytes.Buffer
	unshare.Stderr = &stderr
	if err := unshare.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = unshare.Process.Kill()
		_ = unshare.Wait()
	}()
	var pause int
	for deadline := time.Now().Add(10 * time.Second); pause == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if kids := children(unshare.Process.Pid); len(kids) == 1 {
			pause = kids[0]
		}
	}
	if pause == 0 {
		t.Fatalf("no pause under unshare\n%s", stderr.String())
	}
	waitCatching(t, pause)
	if err := exec.Command("nsenter", "--target", strconv.Itoa(pause), "--pid", "--", "sh", "-c", "sleep 1 & exit 0").Run(); err != nil {
		t.Fatal(err)
	}
	// The orphaned sleep is now pause's child...
	var inherited bool
	for deadline := time.Now().Add(time.Second); !inherited && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, k := range children(pause) {
			inherited = inherited || comm(k) == "sleep"
		}
	}
	if !inherited {
		t.Fatal("the orphan was not reparented to pause")
	}
	// ...and once it exits, no zombie is left.
	deadline := time.Now().Add(10 * time.Second)
	for len(children(pause)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pause has not reaped its children: %v", children(pause))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(pause, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := unshare.Wait(); err != nil {
		t.Fatalf("unshare/pause after SIGTERM: %v\n%s", err, stderr.String())
	}
}

// children lists the processes whose parent is pid, zombies included.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so start after ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}
