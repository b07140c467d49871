// Package docsrun runs the manual's shell blocks as a user pastes them.
//
// The convention (docs/README.md, "Commands in these pages"): a fenced
// block whose info string is exactly `sh` is run as pasted, page by page,
// each page in one shell session (an export or eval of one block holds
// for the next), every command's exit code checked: 0, or a code its own
// comment names ("# exit 2 when something blocks" allows 0 and 2). A
// block that cannot run in a test says so and why: ```sh norun: REASON.
// Other blocks (``` with no language, text, toml) are output, synopses or
// files and are not run.
package docsrun

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Block is one fenced sh block of a page.
type Block struct {
	File string // the page, as given to Parse
	Line int    // the line of the opening fence
	Run  bool   // false: ```sh norun: Reason
	// Reason says why a norun block is not run.
	Reason string
	Lines  []string
}

// Parse returns the sh blocks of a Markdown page. A sh block whose info
// string is neither `sh` nor `sh norun: REASON` is an error: a marker
// the test does not know would silently leave commands unchecked.
func Parse(file string, page []byte) ([]Block, error) {
	var out []Block
	var cur *Block
	inFence := false
	for i, line := range strings.Split(string(page), "\n") {
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "```") {
			if cur != nil {
				cur.Lines = append(cur.Lines, line)
			}
			continue
		}
		if inFence {
			inFence = false
			if cur != nil {
				out = append(out, *cur)
				cur = nil
			}
			continue
		}
		inFence = true
		info := strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))
		lang, rest, _ := strings.Cut(info, " ")
		if lang != "sh" && lang != "bash" && lang != "shell" && lang != "console" {
			continue
		}
		b := Block{File: file, Line: i + 1, Run: true}
		rest = strings.TrimSpace(rest)
		switch {
		case lang != "sh":
			return nil, fmt.Errorf("%s:%d: ```%s: write commands as ```sh (run by the docs test) or ```sh norun: REASON", file, i+1, lang)
		case rest == "":
		case strings.HasPrefix(rest, "norun:") && strings.TrimSpace(strings.TrimPrefix(rest, "norun:")) != "":
			b.Run, b.Reason = false, strings.TrimSpace(strings.TrimPrefix(rest, "norun:"))
		default:
			return nil, fmt.Errorf("%s:%d: ```sh %s: the docs test knows only ```sh and ```sh norun: REASON", file, i+1, rest)
		}
		cur = &b
	}
	if inFence {
		return nil, fmt.Errorf("%s: a fence is not closed", file)
	}
	return out, nil
}

// Command is one command line of a block (continuation lines and
// here-documents joined), with the exit codes it may end with.
type Command struct {
	File string
	Line int
	Text string
	// Exits are the allowed exit codes: 0 and any "exit N" its comment names.
	Exits []int
}

var (
	exitComment = regexp.MustCompile(`\bexit (\d+)`)
	heredoc     = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)
)

// Commands splits a block into the commands a user pastes.
func Commands(b Block) []Command {
	var out []Command
	for i := 0; i < len(b.Lines); i++ {
		line := b.Lines[i]
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		c := Command{File: b.File, Line: b.Line + 1 + i, Text: line, Exits: []int{0}}
		for strings.HasSuffix(strings.TrimRight(c.Text, " "), "\\") && i+1 < len(b.Lines) {
			i++
			c.Text += "\n" + b.Lines[i]
		}
		if m := heredoc.FindStringSubmatch(c.Text); m != nil {
			for i+1 < len(b.Lines) {
				i++
				c.Text += "\n" + b.Lines[i]
				if strings.TrimSpace(b.Lines[i]) == m[1] {
					break
				}
			}
		}
		if _, comment, ok := strings.Cut(c.Text, " #"); ok {
			for _, m := range exitComment.FindAllStringSubmatch(comment, -1) {
				n, _ := strconv.Atoi(m[1])
				c.Exits = append(c.Exits, n)
			}
		}
		out = append(out, c)
	}
	return out
}

// Result is a command's exit code and its output (stdout and stderr
// interleaved, as on a terminal).
type Result struct {
	Command
	Exit   int // -1: the session ended before the command finished
	Output string
}

// OK says whether the command ended with an allowed exit code.
func (r Result) OK() bool {
	for _, e := range r.Exits {
		if r.Exit == e {
			return true
		}
	}
	return false
}

func (r Result) String() string {
	out := r.Output
	if len(out) > 3000 {
		out = "..." + out[len(out)-3000:]
	}
	return fmt.Sprintf("%s:%d: %s\nexit %d (allowed %v); output:\n%s", r.File, r.Line, r.Text, r.Exit, r.Exits, out)
}

// Session is one shell a user pastes into: bash in Dir with Env, stdin
// empty, killed with its process group after Timeout.
type Session struct {
	Dir     string
	Env     []string
	Timeout time.Duration
}

const marker = "@@docsrun"

// Run pastes the commands one after another into one bash (a failing
// command does not stop the next, as in a terminal) and returns each
// one's exit code and output.
func (s Session) Run(cmds []Command) ([]Result, error) {
	var script strings.Builder
	for i, c := range cmds {
		fmt.Fprintf(&script, "printf '\\n%s %d start\\n'\n%s\nprintf '\\n%s %d exit %%d\\n' $?\n", marker, i, c.Text, marker, i)
	}
	f, err := os.CreateTemp("", "docsrun-*.sh")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script.String()); err != nil {
		return nil, err
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", f.Name())
	cmd.Dir, cmd.Env = s.Dir, s.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	res := make([]Result, len(cmds))
	for i, c := range cmds {
		res[i] = Result{Command: c, Exit: -1}
	}
	cur := -1
	for _, line := range strings.SplitAfter(out.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == marker {
			n, _ := strconv.Atoi(f[1])
			if n >= 0 && n < len(res) {
				switch f[2] {
				case "start":
					cur = n
					continue
				case "exit":
					if len(f) == 4 {
						res[n].Exit, _ = strconv.Atoi(f[3])
					}
					// The marker's own leading newline (output may not end in one).
					res[n].Output = strings.TrimSuffix(res[n].Output, "\n")
					cur = -1
					continue
				}
			}
		}
		if cur >= 0 {
			res[cur].Output += line
		}
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("the session did not end within %v", s.Timeout)
	}
	if runErr != nil {
		return res, fmt.Errorf("bash: %v", runErr)
	}
	return res, nil
}

// Pages returns README.md and docs/*.md of the repository at root.
func Pages(root string) ([]string, error) {
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	return append([]string{filepath.Join(root, "README.md")}, docs...), err
}
