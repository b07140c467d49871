package app

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasExamples: every command a user can call shows
// examples in its --help, at least one a command line of that command.
func TestEveryCommandHasExamples(t *testing.T) {
	root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		// Groups (profile, install) print their help; their commands
		// have the examples.
		group := c.HasSubCommands() && c.Args != nil && c.Name() != "report"
		if !c.IsAvailableCommand() || !c.Runnable() || !c.HasParent() || group || c.Parent().Name() == "completion" {
			return
		}
		runs := false
		for _, line := range strings.Split(c.Example, "\n") {
			runs = runs || strings.HasPrefix(strings.TrimSpace(line), c.CommandPath())
		}
		if !runs {
			t.Errorf("%s: no example of it in its help:\n%s", c.CommandPath(), c.Example)
		}
	}
	walk(root)
}

// TestOneDefaultDataDir: scan probes the data dir launch will use, and
// every command that reads a launch finds it without --data-dir.
func TestOneDefaultDataDir(t *testing.T) {
	t.Run("default", func(t *testing.T) { t.Setenv(DataDirEnv, ""); oneDefaultDataDir(t, DefaultClusterDataDir) })
	t.Run(DataDirEnv, func(t *testing.T) { t.Setenv(DataDirEnv, "/tmp/kp-env"); oneDefaultDataDir(t, "/tmp/kp-env") })
}

func oneDefaultDataDir(t *testing.T, want string) {
	root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if f := c.Flags().Lookup("data-dir"); f != nil && !c.Hidden && f.DefValue != want {
			t.Errorf("%s --data-dir defaults to %q, want %q", c.CommandPath(), f.DefValue, want)
		}
	}
	walk(root)
}

// TestProfileFlagsNameBuiltins: every --profile flag that accepts
// builtin:NAME says so in its help (launch's did not).
func TestProfileFlagsNameBuiltins(t *testing.T) {
	root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if f := c.Flags().Lookup("profile"); f != nil && !c.Hidden && !strings.Contains(f.Usage, "builtin:NAME") {
			t.Errorf("%s --profile: %q does not name builtin:NAME", c.CommandPath(), f.Usage)
		}
	}
	walk(root)
}

// TestOutputIsTheFormat: as in kubectl and kind, -o/--output names the
// format wherever it exists and -f/--file the destination (in report, -o
// was the output file: `kprobe report -o json` wrote a file named json).
func TestOutputIsTheFormat(t *testing.T) {
	root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	outputs := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Hidden {
			return
		}
		if f := c.Flags().ShorthandLookup("o"); f != nil && f.Name != "output" {
			t.Errorf("%s: -o is --%s, want --output", c.CommandPath(), f.Name)
		}
		if f := c.Flags().ShorthandLookup("f"); f != nil && f.Name != "file" && f.Name != "follow" {
			t.Errorf("%s: -f is --%s, want --file", c.CommandPath(), f.Name)
		}
		if f := c.Flags().Lookup("output"); f != nil {
			outputs++
			if f.Shorthand != "o" || f.Value.Type() != "string" ||
				!(strings.Contains(f.Usage, "text") || strings.Contains(f.Usage, "json") || strings.Contains(f.Usage, "md")) {
				t.Errorf("%s --output: -%s %s %q, want -o naming the formats", c.CommandPath(), f.Shorthand, f.Value.Type(), f.Usage)
			}
		}
		if f := c.Flags().Lookup("file"); f != nil && f.Shorthand != "f" {
			t.Errorf("%s --file: shorthand %q, want -f", c.CommandPath(), f.Shorthand)
		}
	}
	walk(root)
	if outputs < 5 {
		t.Fatalf("only %d commands with --output: the walk is broken", outputs)
	}
}

// TestEveryCommandRefusesAnUnknownFlag: the exit code table (docs/cli.md)
// holds for every command: an unknown flag is bad input (3), never 1, and
// nothing runs. kubectl and helm pass their flags on, so they are left out.
func TestEveryCommandRefusesAnUnknownFlag(t *testing.T) {
	root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	root.InitDefaultCompletionCmd()
	n := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Hidden || c.DisableFlagParsing || !c.HasParent() || c.Name() == "help" {
			return
		}
		n++
		args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "kprobe ")), "--no-such-flag")
		if code, _, errOut := runKprobe(args...); code != ExitBadInput || !strings.Contains(errOut, "unknown flag: --no-such-flag") {
			t.Errorf("kprobe %s: exit %d, want %d with the flag named\n%s", strings.Join(args, " "), code, ExitBadInput, errOut)
		}
	}
	walk(root)
	if n < 20 {
		t.Fatalf("only %d commands walked", n)
	}
}
