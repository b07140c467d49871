package tui_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// kprobeBinary is $KPROBE_BIN, or kprobe built from this tree.
func kprobeBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("KPROBE_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "kprobe")
	// go test puts its own go first in PATH.
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kprobe")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tmux is a private tmux server (its own socket, no configuration) with
// one session, "kprobe", of a fixed size.
type tmux struct {
	t    *testing.T
	sock string
}

func (x tmux) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-u", "-S", x.sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// capture is the pane as the user sees it, without trailing blanks;
// with more, also its history, and long lines joined.
func (x tmux) capture(more ...string) string {
	lines := strings.Split(x.run(append([]string{"capture-pane", "-p", "-t", "kprobe"}, more...)...), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n") + "\n"
}

// waitScreen polls the pane (at most 20 s) until it shows want and
// stays the same for 100 ms (a whole frame, not one being drawn).
func (x tmux) waitScreen(want string) string {
	x.t.Helper()
	prev := ""
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		s := x.capture()
		if strings.Contains(s, want) && s == prev {
			return s
		}
		prev = s
	}
	x.t.Fatalf("the terminal never showed %q; it shows:\n%s", want, prev)
	return ""
}

var elapsed = regexp.MustCompile(`\b\d+\.\ds\b`)

// TestScanInTerminal runs `kprobe scan` in a real terminal (tmux, 100x40)
// on a replayed gVisor sandbox: the live view comes on by itself, the keys
// move, expand and filter, q quits, and then the command's side effects
// are those of a plain scan: the report on stdout, the profile, exit 2.
func TestScanInTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed; `make deps` installs it, and CI must run this test")
		}
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	bin := kprobeBinary(t)
	dir := t.TempDir()
	fixture, err := filepath.Abs(filepath.Join(sandboxes, "gvisor-run"))
	if err != nil {
		t.Fatal(err)
	}
	// Short relative paths, so the screen does not depend on where the
	// tree is.
	if err := os.Symlink(fixture, filepath.Join(dir, "gvisor-run")); err != nil {
		t.Fatal(err)
	}
	x := tmux{t: t, sock: filepath.Join(dir, "tmux.sock")}
	script := fmt.Sprintf(`cd %s && env -u NO_COLOR LANG=C.UTF-8 %s scan --from-capture gvisor-run --write-profile profile.toml; echo "exit=$?" > rc; exec sleep 60`, dir, bin)
	// The shell stays (sleep) so that the pane keeps what kprobe printed:
	// a pane whose process died may lose output tmux has not read yet.
	x.run("new-session", "-d", "-s", "kprobe", "-x", "100", "-y", "40", "sh", "-c", script)
	t.Cleanup(func() { exec.Command("tmux", "-S", x.sock, "kill-server").Run() })

	normal := func(s string) string { return elapsed.ReplaceAllString(s, "N.Ns") }
	x.waitScreen("verdict: TP")
	x.run("send-keys", "-t", "kprobe", "Down", "Down", "Enter")
	golden(t, "terminal-expanded", normal(x.waitScreen("KP-PRIV-005")))
	x.run("send-keys", "-t", "kprobe", "Enter", "f")
	golden(t, "terminal-filter-block", normal(x.waitScreen("showing block only")))
	x.run("send-keys", "-t", "kprobe", "q")

	// The process exits as a plain scan does.
	var rc []byte
	waitFor(t, "kprobe to exit", func() bool {
		rc, err = os.ReadFile(filepath.Join(dir, "rc"))
		return err == nil && len(rc) > 0
	})
	if got := strings.TrimSpace(string(rc)); got != "exit=2" {
		t.Errorf("kprobe scan in the terminal: %s, want exit=2 (blockers)", got)
	}
	plain := exec.Command(bin, "scan", "--from-capture", "gvisor-run", "--write-profile", "plain.toml", "--no-tui")
	plain.Dir = dir
	plain.Env = append(os.Environ(), "NO_COLOR=1")
	report, err := plain.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("plain scan: %v", err)
	}
	// The terminal ends with the text report, as the plain scan prints
	// it, after the line that says where the profile went.
	lines := strings.Split(strings.TrimRight(string(report), "\n"), "\n")
	tail := strings.Join(lines[len(lines)-20:], "\n")
	var screen string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		screen = x.capture("-J", "-S", "-")
		if strings.HasSuffix(screen, tail+"\n") {
			break
		}
	}
	if !strings.HasSuffix(screen, tail+"\n") {
		t.Errorf("the terminal does not end with the scan's report:\n%s\nwant it to end with:\n%s", screen, tail)
	}
	if !strings.Contains(screen, "kprobe: profile written to profile.toml\nkprobe scan: gvisor") {
		t.Errorf("the terminal does not say where the profile went before the report:\n%s", screen)
	}
	// The same profile as the plain scan's, but for the time it was made.
	tuiProfile, err1 := os.ReadFile(filepath.Join(dir, "profile.toml"))
	plainProfile, err2 := os.ReadFile(filepath.Join(dir, "plain.toml"))
	if err1 != nil || err2 != nil {
		t.Fatalf("profiles: %v, %v", err1, err2)
	}
	generated := regexp.MustCompile(`(?m)^generated = .*$`)
	if a, b := generated.ReplaceAll(tuiProfile, nil), generated.ReplaceAll(plainProfile, nil); string(a) != string(b) {
		t.Errorf("the profile written under the TUI differs from the plain scan's")
	}
}

// TestScanInSmallTerminal: in an 80x24 terminal with NO_COLOR the live
// view still comes on (NO_COLOR removes colour, nothing else), draws no
// colour, and shows the whole verdict and the keys.
func TestScanInSmallTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	bin := kprobeBinary(t)
	dir := t.TempDir()
	fixture, err := filepath.Abs(filepath.Join(sandboxes, "gvisor-run"))
	if err != nil {
		t.Fatal(err)
	}
	x := tmux{t: t, sock: filepath.Join(dir, "tmux.sock")}
	script := fmt.Sprintf(`cd %s && env NO_COLOR=1 LANG=C.UTF-8 %s scan --from-capture %s; exec sleep 60`, dir, bin, fixture)
	x.run("new-session", "-d", "-s", "kprobe", "-x", "80", "-y", "24", "sh", "-c", script)
	t.Cleanup(func() { exec.Command("tmux", "-S", x.sock, "kill-server").Run() })
	screen := x.waitScreen("q quit")
	flat := strings.Join(strings.Fields(screen), " ")
	if !strings.Contains(flat, "verdict: TP — process pods: pods run as processes of the sandbox (no isolation between pods and the sandbox, host network)") {
		t.Errorf("the verdict is cut at 80 columns:\n%s", screen)
	}
	if styled := x.run("capture-pane", "-p", "-e", "-t", "kprobe"); regexp.MustCompile(`\x1b\[[0-9;]*3[0-7]m|\x1b\[38;`).MatchString(styled) {
		t.Errorf("NO_COLOR, yet the view has colour:\n%q", styled)
	}
	x.run("send-keys", "-t", "kprobe", "q")
}
