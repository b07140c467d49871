package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/test/docsrun"
	"github.com/kprobe/kprobe/test/hostcheck"
)

// TestDocsAsPasted runs every ```sh block of README.md and docs/ as a new
// user pastes them (test/docsrun; the convention is in docs/README.md):
// page by page, one shell each, in a scratch HOME and data dir, bin/ of
// the checkout on PATH. Every command must end with exit 0 or a code its
// comment names, print what a user looks for (keyLines), and the host
// must be left as it was. Clusters the pages start are stopped by the
// pages themselves; whatever a failing page left is stopped afterwards.
func TestDocsAsPasted(t *testing.T) {
	if os.Getenv("KPROBE_E2E") != "1" {
		t.Skip("end-to-end: set KPROBE_E2E=1 as root after `make build engine images addons` (CI does)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end test needs root")
	}
	bin := kprobeBin(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	sess, home, dataDir := docsSession(t, repo, filepath.Dir(bin))
	before := hostcheck.Take(hostcheck.Options{Exe: bin})
	pages, err := docsrun.Pages(repo)
	if err != nil {
		t.Fatal(err)
	}
	dataDirs := map[string]bool{dataDir: true}
	defer func() {
		for d := range dataDirs {
			if _, err := os.Stat(d); err == nil {
				out, _ := exec.Command(bin, "stop", "--purge", "--data-dir", d).CombinedOutput()
				t.Logf("cleanup: kprobe stop --purge --data-dir %s: %s", d, out)
			}
		}
	}()
	for _, page := range pages {
		cmds := runnable(t, page)
		if len(cmds) == 0 {
			continue
		}
		for _, c := range cmds {
			for _, m := range dataDirFlag.FindAllStringSubmatch(c.Text, -1) {
				dataDirs[strings.Replace(m[1], "~", home, 1)] = true
			}
		}
		start := time.Now()
		res, err := sess.Run(cmds)
		t.Logf("%s: %d commands in %.1fs", filepath.Base(page), len(cmds), time.Since(start).Seconds())
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(page), err)
		}
		for _, r := range res {
			t.Logf("  exit %d: %s", r.Exit, firstLine(r.Text))
			if !r.OK() {
				t.Errorf("%s", r)
				continue
			}
			if want := keyLine(r.Text); want != nil && !want.MatchString(r.Output) {
				t.Errorf("%s:%d: %s: the output lacks %q:\n%s", r.File, r.Line, r.Text, want, r.Output)
			}
		}
	}
	after := hostcheck.Take(hostcheck.Options{Exe: bin})
	if d := hostcheck.Diff(before, after); d != "" {
		t.Errorf("the docs' commands left the host changed:\n%s", d)
	}
}

var dataDirFlag = regexp.MustCompile(`--data-dir[ =](\S+)`)

// docsSession is a shell as a new user has it: a scratch HOME, the data
// dir's default in scratch (KPROBE_DATA_DIR), kprobe's bin dir first on
// PATH, and as working directory a scratch dir that shows the checkout's
// files by symbolic links (the docs name research/ and $PWD/bin), so what
// the commands write stays in scratch.
func docsSession(t *testing.T, repo, binDir string) (docsrun.Session, string, string) {
	scratch := t.TempDir()
	home, dataDir, work := filepath.Join(scratch, "home"), filepath.Join(scratch, "data"), filepath.Join(scratch, "work")
	for _, d := range []string{home, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == ".git" {
			continue
		}
		if err := os.Symlink(filepath.Join(repo, e.Name()), filepath.Join(work, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{
		"HOME=" + home, "USER=root", "LOGNAME=root", "SHELL=/bin/bash", "LANG=C.UTF-8", "TERM=dumb",
		"KPROBE_DATA_DIR=" + dataDir,
		"PATH=" + binDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}
	return docsrun.Session{Dir: work, Env: env, Timeout: 15 * time.Minute}, home, dataDir
}

// runnable returns the commands of a page's runnable blocks.
func runnable(t *testing.T, page string) []docsrun.Command {
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := docsrun.Parse(filepath.Base(page), data)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []docsrun.Command
	for _, b := range blocks {
		if b.Run {
			cmds = append(cmds, docsrun.Commands(b)...)
		}
	}
	return cmds
}

// keyLines: what a new user looks for in the output of a command (the
// first pattern whose command prefix matches), beyond its exit code.
var keyLines = []struct {
	prefix string
	want   *regexp.Regexp
}{
	{"kprobe launch", regexp.MustCompile(`(?m)^kprobe: .*ready`)},
	{"kprobe verify", regexp.MustCompile(`(?m)^\s*pass\s+control-plane`)},
	{"kprobe stop", regexp.MustCompile(`(?m)stopped|removed|purged`)},
	{"kprobe scan --passive", regexp.MustCompile(`(?m)^verdict|T[0-4P]`)},
	{"kprobe scan --from-capture", regexp.MustCompile(`T[0-4P]`)},
	{"kprobe plan", regexp.MustCompile(`T[0-4P]|"rung"`)},
	{"kprobe version", regexp.MustCompile(`(?m)^kprobe |"version"`)},
	{"kprobe profile list", regexp.MustCompile(`gvisor-9p`)},
	{"kubectl logs", regexp.MustCompile(`(?m)^hello$`)},
	{"kubectl rollout status", regexp.MustCompile(`successfully rolled out`)},
}

func keyLine(cmd string) *regexp.Regexp {
	if strings.Contains(cmd, " > ") {
		return nil // the output went to a file
	}
	for _, k := range keyLines {
		if strings.HasPrefix(cmd, k.prefix) {
			return k.want
		}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
