package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/test/hostcheck"
)

// TestNewUserInTerminal is issue 16's new user: an 80x24 terminal (tmux)
// with an interactive bash, into which the README's runnable blocks are
// typed command by command (send-keys) as a user pastes them. Where
// kprobe brings up a live view (scan, launch), the user watches it and
// leaves it with q once the verdict shows; the screen (capture-pane) must
// show the view, every command must end with an allowed exit code (bash's
// PROMPT_COMMAND records each), and what the terminal shows after each
// command must have its key line (keyLines, shared with TestDocsAsPasted).
func TestNewUserInTerminal(t *testing.T) {
	if os.Getenv("KPROBE_E2E") != "1" {
		t.Skip("end-to-end: set KPROBE_E2E=1 as root after `make build engine images addons` (CI does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end test needs root")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is not installed; `make deps` installs it")
	}
	bin := kprobeBin(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	sess, _, dataDir := docsSession(t, repo, filepath.Dir(bin))
	cmds := runnable(t, filepath.Join(repo, "README.md"))
	before := hostcheck.Take(hostcheck.Options{Exe: bin})
	defer func() {
		if _, err := os.Stat(dataDir); err == nil {
			out, _ := exec.Command(bin, "stop", "--purge", "--data-dir", dataDir).CombinedOutput()
			t.Logf("cleanup: kprobe stop --purge: %s", out)
		}
	}()

	dir := t.TempDir()
	rcFile := filepath.Join(dir, "rc")
	term := terminal{t: t, sock: filepath.Join(dir, "tmux.sock")}
	env := []string{"TERM=screen", "PS1=$ ", "PROMPT_COMMAND=echo $? >> " + rcFile}
	for _, kv := range sess.Env {
		if !strings.HasPrefix(kv, "TERM=") {
			env = append(env, kv)
		}
	}
	shell := "exec env -i " + shellQuote(env...) + " bash --norc --noprofile -i"
	term.run("new-session", "-d", "-s", "user", "-x", "80", "-y", "24", "-c", sess.Dir, shell)
	defer exec.Command("tmux", "-S", term.sock, "kill-server").Run()
	prompts := func() []string {
		b, _ := os.ReadFile(rcFile)
		return strings.Fields(string(b))
	}
	waitFor(t, "the shell's first prompt", func() bool { return len(prompts()) > 0 })

	views := map[string]bool{}
	for _, c := range cmds {
		n := len(prompts())
		start := time.Now()
		term.run("send-keys", "-t", "user", "-l", c.Text)
		term.run("send-keys", "-t", "user", "Enter")
		quit := false
		for len(prompts()) <= n {
			if time.Since(start) > 10*time.Minute {
				t.Fatalf("%s:%d: %s: no prompt after 10 minutes; the screen:\n%s", c.File, c.Line, c.Text, term.screen())
			}
			time.Sleep(200 * time.Millisecond)
			screen := term.screen()
			switch {
			case strings.Contains(screen, "kprobe launch") && strings.Contains(screen, "✓"):
				views["launch"] = true
			case !quit && strings.Contains(screen, "verdict:") && strings.Contains(screen, "q quit"):
				views["scan"] = true
				term.run("send-keys", "-t", "user", "q") // the user has read the verdict
				quit = true
			}
		}
		rcs := prompts()
		exit, _ := strconv.Atoi(rcs[len(rcs)-1])
		out := term.after("$ " + c.Text)
		t.Logf("exit %d in %.1fs: %s", exit, time.Since(start).Seconds(), firstLine(c.Text))
		allowed := false
		for _, e := range c.Exits {
			allowed = allowed || exit == e
		}
		if !allowed {
			t.Errorf("%s:%d: %s: exit %d (allowed %v); the terminal shows:\n%s", c.File, c.Line, c.Text, exit, c.Exits, out)
		} else if want := keyLine(c.Text); want != nil && !want.MatchString(out) {
			t.Errorf("%s:%d: %s: the terminal lacks %q:\n%s", c.File, c.Line, c.Text, want, out)
		}
	}
	for _, v := range []string{"launch", "scan"} {
		if !views[v] {
			t.Errorf("kprobe %s showed no live view in the terminal", v)
		}
	}
	after := hostcheck.Take(hostcheck.Options{Exe: bin})
	if d := hostcheck.Diff(before, after); d != "" {
		t.Errorf("the README's commands left the host changed:\n%s", d)
	}
}

// terminal is a private tmux server (own socket, no configuration).
type terminal struct {
	t    *testing.T
	sock string
}

func (x terminal) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-u", "-S", x.sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is what the terminal shows now.
func (x terminal) screen() string { return x.run("capture-pane", "-p", "-t", "user") }

// after is what the terminal shows (history included, wrapped lines
// joined) after the last line that starts with prompt.
func (x terminal) after(prompt string) string {
	all := x.run("capture-pane", "-p", "-J", "-S", "-", "-t", "user")
	lines := strings.Split(all, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(strings.TrimRight(lines[i], " "), strings.TrimRight(prompt, " ")) {
			return strings.Join(lines[i+1:], "\n")
		}
	}
	return all
}

func shellQuote(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
