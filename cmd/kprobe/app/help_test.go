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
