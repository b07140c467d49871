// Package app is kprobe's command line: one file per subcommand, no logic
// beyond parsing flags and calling the packages that do the work. It is the
// only place that maps errors to exit codes.
//
// It builds two binaries over the same root command: kprobe-cluster, with
// every command, and bin/kprobe (-tags nocluster), which leaves out the
// commands that link the Kubernetes client libraries (cluster.go) and runs
// kprobe-cluster for them (stubs.go, clustercommands.go).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/moby/sys/reexec"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kprobe/kprobe/adapters/shims"
	"github.com/kprobe/kprobe/probes/container"
	"github.com/kprobe/kprobe/probes/suite"
)

// Version is set at build time with -ldflags "-X .../app.Version=v0.1.0".
var Version = "dev"

// Exit codes, the table of docs/cli.md: every command maps its errors
// to these, here and nowhere else.
const (
	ExitOK       = 0 // done; the answer is yes
	ExitInternal = 1 // something failed that is not the user's input
	ExitBlockers = 2 // the answer is no: blockers found, a check failed, the cluster is not running
	ExitBadInput = 3 // flags, arguments, files, or nothing to act on in the data dir
	// ExitInterrupted is 128+SIGINT, as a shell reports a program
	// stopped by Ctrl+C.
	ExitInterrupted = 130
)

// ExitError carries an exit code up to Main.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// badInput marks an error caused by the user's flags or files.
func badInput(format string, a ...any) error {
	return &ExitError{Code: ExitBadInput, Err: fmt.Errorf(format, a...)}
}

// errBlockers is returned when a scan found blockers; the report has
// already been printed.
var errBlockers = &ExitError{Code: ExitBlockers, Err: errors.New("blockers found")}

// IOStreams are the command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// isColorTerminal reports whether w is a terminal that wants colour.
func isColorTerminal(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Main runs kprobe and exits with its exit code.
func Main() {
	// containerd runs kprobe as the runtime-wrapper shim (adapters/shims).
	if code, ok := shims.Dispatch(os.Args); ok {
		os.Exit(code)
	}
	// libcontainer re-runs this binary as "<argv0> init" to start a
	// container's process; that must win over kprobe's own re-exec names.
	container.InitIfChild()
	suite.Register()
	if reexec.Init() {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Args[1:])
	if ctx.Err() != nil {
		err = interrupted(err)
	}
	stop()
	os.Exit(ExitCode(err, os.Stderr))
}

// interrupted maps what a command returned after Ctrl+C or SIGTERM to
// ExitInterrupted, keeping its message unless it is the cancellation.
func interrupted(err error) error {
	msg := "interrupted"
	var ee *ExitError
	if err != nil && !errors.Is(err, context.Canceled) && !(errors.As(err, &ee) && ee == errBlockers) {
		msg += ": " + err.Error()
	}
	return &ExitError{Code: ExitInterrupted, Err: errors.New(msg)}
}

// ExitCode prints err (unless it is the blockers marker) and maps it to an
// exit code.
func ExitCode(err error, errOut io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee != errBlockers {
			fmt.Fprintln(errOut, "kprobe: "+ee.Err.Error())
		}
		return ee.Code
	}
	fmt.Fprintln(errOut, "kprobe: "+err.Error())
	return ExitInternal
}

// Run executes the command line args. Where the cluster commands are
// another binary's, a command line for one of them runs that binary.
func Run(ctx context.Context, s IOStreams, args []string) error {
	if clusterElsewhere && clusterTarget(args) != "" {
		return execCluster(args)
	}
	root := NewRootCommand(s)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// NewRootCommand builds the command tree.
func NewRootCommand(s IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "kprobe",
		Short: "Find out whether Kubernetes can run in this sandbox, and what blocks it",
		Long: `kprobe fingerprints the sandbox it runs in (gVisor, rootless or unprivileged
containers, bubblewrap, LXC, WSL2, web IDEs, VMs) by trying things rather than
guessing: it mounts, unshares, opens devices and starts a container, then says
which rung of the fallback ladder a Kubernetes cluster can reach here and what
blocks each rung above it, with paste-ready fixes.

Exit codes, the same for every command (docs/cli.md): 0 ok, 1 internal error,
2 the answer is no (blockers found, a check failed, the cluster is not running),
3 bad input (flags, files, nothing to act on), 130 interrupted.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput("%v (see %s --help)", err, c.CommandPath())
	})
	root.AddCommand(
		newScanCommand(s),
		newProfileCommand(s),
		newCaptureCommand(s),
		newDocsCommand(s),
		newPlanCommand(s),
		newReportCommand(s),
		newVersionCommand(s),
		newSuperviseCommand(s),
	)
	root.AddCommand(clusterCommands(s)...)
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(root.FlagErrorFunc())
	}
	// cobra adds its completion command when it executes; added now, it
	// refuses arguments as bad input like every other command.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			for _, sh := range c.Commands() {
				sh.Args = noArgs
			}
		}
	}
	rejectUnknownCommands(root)
	registerCompletions(root)
	return root
}

// rejectUnknownCommands makes every command that only groups others (the
// root, profile, ...) refuse an unknown subcommand as bad input (exit 3)
// and print its help when called alone: cobra's own "unknown command"
// error would exit 1 like an internal error.
func rejectUnknownCommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		rejectUnknownCommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's own default
		}
		if sug := cmd.SuggestionsFor(args[0]); len(sug) > 0 {
			msg += fmt.Sprintf(" (did you mean %q?)", sug[0])
		}
		return badInput("%s; commands: %s", msg, strings.Join(names, ", "))
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// noArgs rejects positional arguments as bad input.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return badInput("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// exactArgs requires n positional arguments.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return badInput("%s needs %s", cmd.CommandPath(), what)
		}
		return nil
	}
}
