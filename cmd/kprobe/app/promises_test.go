package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/signatures"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/suite"
)

// TestEveryQuotedCommandExists: every `kprobe ...` command line the user
// is told to run (in README.md and docs/, in every string of kprobe's
// code: help, fix texts of findings, signatures and rules, errors) names a
// command that exists and only flags that command has. A fix that names
// a flag that does not exist is a promise broken when pasted.
func TestEveryQuotedCommandExists(t *testing.T) {
	root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	root.InitDefaultCompletionCmd() // cobra adds it when it executes
	repo := "../../.."
	checked := 0
	check := func(where, text string, code bool) {
		for _, m := range quotedCommand.FindAllStringSubmatch(text, -1) {
			if problem := checkCommand(root, strings.Fields(m[1]), code); problem != "" {
				t.Errorf("%s: %q: %s", where, "kprobe"+m[1], problem)
			}
			checked++
		}
	}
	// The manual: code spans and code blocks (prose may say "kprobe
	// finds"; code must run).
	docs, _ := filepath.Glob(filepath.Join(repo, "docs", "*.md"))
	for _, path := range append(docs, filepath.Join(repo, "README.md")) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repo, path)
		for _, c := range markdownCode(string(data)) {
			check(rel, c.text, c.command)
		}
	}
	// Every string literal of kprobe's own code outside tests.
	fset := token.NewFileSet()
	for _, dir := range []string{"adapters", "probes", "profiles", "reports", "cmd"} {
		err := filepath.WalkDir(filepath.Join(repo, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						pos := fset.Position(lit.Pos())
						rel, _ := filepath.Rel(repo, pos.Filename)
						check(rel+":"+strconv.Itoa(pos.Line), s, false)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 100 {
		t.Errorf("only %d kprobe command lines found: the scan of the texts is broken", checked)
	}
}

// quotedCommand is "kprobe" (or bin/kprobe) and the words after it, up to
// the end of the command: a quote, a pipe, a redirection, a comment.
var quotedCommand = regexp.MustCompile("(?:^|[\\s`'\"(]|bin/)kprobe((?:[ \\t]+[^\\s`'\"|;&()<>#\\\\]+)+)")

// code is a code span or a line of a code block; command when it is a
// command line (a block's line, a span that starts with kprobe), not a
// fix text quoted in a table.
type code struct {
	text    string
	command bool
}

// markdownCode returns the code spans and the lines of code blocks.
func markdownCode(doc string) []code {
	var out []code
	inBlock := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock {
			if i := strings.Index(line, " #"); i >= 0 {
				line = line[:i]
			}
			out = append(out, code{line, true})
			continue
		}
		parts := strings.Split(line, "`")
		for i := 1; i < len(parts); i += 2 {
			span := strings.TrimPrefix(parts[i], "bin/")
			out = append(out, code{parts[i], strings.HasPrefix(span, "kprobe ")})
		}
	}
	return out
}

// checkCommand resolves the words to a command and checks its flags. In
// code (strict), a first word that is no command is an error; in prose
// ("kprobe launches ...") it is not a command line at all.
func checkCommand(root *cobra.Command, words []string, strict bool) string {
	cmd := root
	i := 0
	for ; i < len(words); i++ {
		next, _, err := cmd.Find([]string{words[i]})
		if err != nil || next == cmd || strings.HasPrefix(words[i], "-") {
			break
		}
		cmd = next
	}
	if cmd == root && i < len(words) && !strings.HasPrefix(words[i], "-") {
		if strict && regexp.MustCompile(`^[a-z][a-z-]*$`).MatchString(words[i]) {
			return "no command " + words[i]
		}
		return ""
	}
	for _, w := range words[i:] {
		if strings.HasSuffix(w, ":") {
			break // prose goes on: "kprobe launch applies a shim: ln -s ..."
		}
		w = strings.TrimRight(w, ".,:")
		switch {
		case strings.HasPrefix(w, "--"):
			name := strings.SplitN(w[2:], "=", 2)[0]
			if name == "" || strings.ToLower(name) != name || strings.ContainsAny(name, "[]{}.*") {
				continue // a placeholder (--FLAG) or an ellipsis
			}
			if cmd.Flags().Lookup(name) == nil && cmd.InheritedFlags().Lookup(name) == nil && name != "help" {
				return cmd.CommandPath() + " has no flag --" + name
			}
		case len(w) == 2 && w[0] == '-' && w[1] >= 'a' && w[1] <= 'z':
			if cmd.Flags().ShorthandLookup(w[1:]) == nil && w != "-h" {
				return cmd.CommandPath() + " has no flag " + w
			}
		}
	}
	return ""
}

// TestDocsCountsAreTrue: a count of probes or signatures typed in
// README.md or docs/ is the real one (the generated pages carry their
// own; a typed "61 signatures" next to a table of 62 is a broken promise).
func TestDocsCountsAreTrue(t *testing.T) {
	all := suite.All()
	active := 0
	for _, p := range all {
		if p.Mode() == probes.Active {
			active++
		}
	}
	real := map[string]int{
		"probes": len(all), "active probes": active, "passive probes": len(all) - active,
		"signatures": len(signatures.Table()),
	}
	count := regexp.MustCompile(`\b(\d+) (active probes|passive probes|probes|signatures)\b`)
	docs, _ := filepath.Glob("../../../docs/*.md")
	for _, path := range append(docs, "../../../README.md") {
		switch filepath.Base(path) {
		case "signatures.md", "probes.md", "findings.md", "profiles-builtin.md":
			continue // generated with the counts
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range count.FindAllStringSubmatch(string(data), -1) {
			if n, _ := strconv.Atoi(m[1]); n != real[m[2]] {
				t.Errorf("%s says %q; there are %d", filepath.Base(path), m[0], real[m[2]])
			}
		}
	}
}
