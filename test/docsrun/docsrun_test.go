package docsrun

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestManualBlocksFollowTheConvention: every sh block of README.md and
// docs/ is either run by test/e2e's TestDocsAsPasted or says why not, and
// is valid shell. Commands written as unfenced ``` blocks escape the
// docs test, so a block of kprobe command lines must be ```sh.
func TestManualBlocksFollowTheConvention(t *testing.T) {
	pages, err := Pages("../..")
	if err != nil {
		t.Fatal(err)
	}
	run := 0
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := Parse(filepath.Base(page), data)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, b := range blocks {
			if b.Run {
				run++
			}
			sh := exec.Command("bash", "-n")
			sh.Stdin = strings.NewReader(strings.Join(b.Lines, "\n"))
			if out, err := sh.CombinedOutput(); err != nil {
				t.Errorf("%s:%d: not valid shell: %s", b.File, b.Line, out)
			}
		}
		for _, b := range unfencedCommands(string(data)) {
			t.Errorf("%s:%d: a block of commands without ```sh (run it, or ```sh norun: REASON): %s", filepath.Base(page), b.line, b.text)
		}
	}
	if run < 10 {
		t.Errorf("only %d runnable blocks found: the parser is broken", run)
	}
}

type unfenced struct {
	line int
	text string
}

// unfencedCommands are lines of ``` blocks (no language) that are command
// lines a user would paste: "kprobe ..." followed by a comment or a
// redirection, or a line of kubectl/export. A synopsis ("kprobe scan
// [--passive]") and output are not.
func unfencedCommands(page string) []unfenced {
	var out []unfenced
	in, plain := false, false
	for i, line := range strings.Split(page, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			if !in {
				plain = t == "```"
			}
			in = !in
			continue
		}
		if !in || !plain || strings.Contains(t, "[") {
			continue
		}
		if strings.HasPrefix(t, "kprobe ") && (strings.Contains(t, " #") || strings.Contains(t, ">")) ||
			strings.HasPrefix(t, "export ") || strings.HasPrefix(t, "kubectl ") {
			out = append(out, unfenced{i + 1, t})
		}
	}
	return out
}

func TestParseMarkers(t *testing.T) {
	page := "x\n```sh\nkprobe scan   # exit 2 when something blocks\n```\n```sh norun: needs the network\ncurl x\n```\n```text\nkprobe out\n```\n"
	blocks, err := Parse("p.md", []byte(page))
	if err != nil || len(blocks) != 2 || !blocks[0].Run || blocks[1].Run || blocks[1].Reason != "needs the network" {
		t.Fatalf("Parse = %+v, %v", blocks, err)
	}
	if c := Commands(blocks[0]); len(c) != 1 || c[0].Line != 3 || len(c[0].Exits) != 2 || c[0].Exits[1] != 2 {
		t.Errorf("Commands = %+v", c)
	}
	for _, bad := range []string{"```sh run\nx\n```\n", "```sh norun:\nx\n```\n", "```bash\nx\n```\n", "```sh\nx\n"} {
		if _, err := Parse("p.md", []byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// TestSessionRunsAsPasted: one bash for a page; state carries from one
// command to the next; a failing command does not stop the rest; each
// command's output and exit code are its own.
func TestSessionRunsAsPasted(t *testing.T) {
	b := Block{File: "p.md", Line: 1, Run: true, Lines: []string{
		"export GREETING=hello",
		"echo $GREETING; echo err >&2",
		"false                # exit 1 here",
		"cat <<EOF",
		"doc $GREETING",
		"EOF",
		"echo one \\",
		"  two",
		"exit 3",
		"echo never",
	}}
	cmds := Commands(b)
	if len(cmds) != 7 {
		t.Fatalf("Commands = %+v", cmds)
	}
	res, err := Session{Dir: t.TempDir(), Env: []string{"PATH=" + os.Getenv("PATH")}, Timeout: time.Minute}.Run(cmds)
	if err == nil {
		t.Errorf("a session that exits 3 reports no error")
	}
	want := []struct {
		exit int
		out  string
		ok   bool
	}{{0, "", true}, {0, "hello\nerr\n", true}, {1, "", true}, {0, "doc hello\n", true}, {0, "one two\n", true}, {-1, "", false}, {-1, "", false}}
	for i, w := range want {
		r := res[i]
		if r.Exit != w.exit || r.Output != w.out || r.OK() != w.ok {
			t.Errorf("command %d %q: exit %d ok %v output %q; want %d %v %q", i, r.Text, r.Exit, r.OK(), r.Output, w.exit, w.ok, w.out)
		}
	}
}
