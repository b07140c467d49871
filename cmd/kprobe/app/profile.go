package app

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
)

func newProfileCommand(s IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "List, validate or show TOML sandbox profiles",
		Long: `A profile is the TOML record of a sandbox written by 'kprobe scan --write-profile':
its identity, facts, derived capabilities, findings and ladder verdict.
Loading is strict: an unknown key or a value of the wrong type is an error
that names the key.

kprobe ships built-in profiles of known sandboxes (gVisor, Docker, podman,
rootless user namespaces, bubblewrap, LXC, WSL2, Codespaces, Gitpod, a VM or
host): 'kprobe profile list' lists them, and every command that takes a
profile path also takes builtin:NAME. 'launch' and 'plan' with --profile auto
match a fresh scan to the closest one.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate PATH|builtin:NAME",
		Short: "Check a profile strictly; exit 3 with every problem listed when it is invalid",
		Example: `  kprobe profile validate sandbox.toml
  kprobe profile validate builtin:gvisor-9p`,
		Args: exactArgs(1, "the path of a profile, or builtin:NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := loadProfile(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "%s: valid %s profile\n", args[0], profiles.APIVersion)
			return nil
		},
	})
	var showOutput string
	show := &cobra.Command{
		Use:   "show PATH|builtin:NAME",
		Short: "Print a profile's identity, capabilities, findings and verdict",
		Example: `  kprobe profile show sandbox.toml
  kprobe profile show builtin:rootless-userns -o toml`,
		Args: exactArgs(1, "the path of a profile, or builtin:NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if showOutput != "text" && showOutput != "toml" {
				return badInput("--output %q: use text or toml", showOutput)
			}
			p, err := loadProfile(args[0])
			if err != nil {
				return err
			}
			if showOutput == "toml" {
				data, err := profileTOML(args[0], p)
				if err != nil {
					return err
				}
				_, err = s.Out.Write(data)
				return err
			}
			return reports.WriteProfileText(s.Out, p, reports.TextOptions{Color: isColorTerminal(s.Out)})
		},
	}
	show.Flags().StringVarP(&showOutput, "output", "o", "text", "text, or toml (a built-in profile's file as shipped, with its comments)")
	cmd.AddCommand(show)
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the built-in profiles of known sandboxes",
		Example: `  kprobe profile list
  kprobe plan --profile builtin:podman`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, err := profiles.Builtins()
			if err != nil {
				return err
			}
			for _, p := range bs {
				fmt.Fprintf(s.Out, "%-20s %s  %-10s %s\n", p.Name, p.Verdict.Rung, reports.BuiltinSource(p), reports.FirstSentence(p.Description))
			}
			fmt.Fprintf(s.Out, "\n'kprobe profile show builtin:NAME' explains one; 'kprobe plan --profile builtin:NAME' plans for it.\n")
			return nil
		},
	})
	return cmd
}

// profileTOML is a profile as TOML: a built-in profile's file as shipped,
// else the profile encoded.
func profileTOML(spec string, p *profiles.Profile) ([]byte, error) {
	if name, ok := strings.CutPrefix(spec, profiles.BuiltinPrefix); ok {
		return profiles.BuiltinTOML(name)
	}
	return profiles.Encode(p)
}

// loadProfile loads a profile file, or a built-in profile for
// "builtin:NAME", mapping every failure of the user's to bad input.
func loadProfile(path string) (*profiles.Profile, error) {
	if name, ok := strings.CutPrefix(path, profiles.BuiltinPrefix); ok {
		p, err := profiles.Builtin(name)
		var ue *profiles.UnknownBuiltinError
		if errors.As(err, &ue) {
			return nil, badInput("%v ('kprobe profile list' describes them)", err)
		}
		return p, err
	}
	p, err := profiles.Load(path, probes.SchemaOf(suite.All()))
	if err == nil {
		return p, nil
	}
	var ve *profiles.ValidationError
	switch {
	case errors.As(err, &ve):
		return nil, &ExitError{Code: ExitBadInput, Err: fmt.Errorf("%v\nfix the keys named above, or write a fresh profile with 'kprobe scan --write-profile %s'", err, path)}
	case errors.Is(err, os.ErrNotExist):
		if _, berr := profiles.Builtin(path); berr == nil {
			return nil, badInput("profile %s does not exist; for the built-in profile, say %s%s", path, profiles.BuiltinPrefix, path)
		}
		return nil, badInput("profile %s does not exist; write one with 'kprobe scan --write-profile %s'", path, path)
	}
	return nil, badInput("read profile: %v", err)
}
