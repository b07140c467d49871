package app

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
)

func newProfileCommand(s IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Validate or show a TOML sandbox profile",
		Long: `A profile is the TOML record of a sandbox written by 'kprobe scan --write-profile':
its identity, facts, derived capabilities, findings and ladder verdict.
Loading is strict: an unknown key or a value of the wrong type is an error
that names the key.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate PATH",
		Short: "Check a profile strictly; exit 3 with every problem listed when it is invalid",
		Args:  exactArgs(1, "the path of a profile"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := loadProfile(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "%s: valid %s profile\n", args[0], profiles.APIVersion)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "show PATH",
		Short: "Print a profile's identity, capabilities, findings and verdict",
		Args:  exactArgs(1, "the path of a profile"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadProfile(args[0])
			if err != nil {
				return err
			}
			return reports.WriteProfileText(s.Out, p, reports.TextOptions{Color: isColorTerminal(s.Out)})
		},
	})
	return cmd
}

// loadProfile loads a profile, mapping every failure to bad input.
func loadProfile(path string) (*profiles.Profile, error) {
	p, err := profiles.Load(path, probes.SchemaOf(suite.All()))
	if err == nil {
		return p, nil
	}
	var ve *profiles.ValidationError
	switch {
	case errors.As(err, &ve):
		return nil, &ExitError{Code: ExitBadInput, Err: fmt.Errorf("%v\nfix the keys named above, or write a fresh profile with 'kprobe scan --write-profile %s'", err, path)}
	case errors.Is(err, os.ErrNotExist):
		return nil, badInput("profile %s does not exist; write one with 'kprobe scan --write-profile %s'", path, path)
	}
	return nil, badInput("read profile: %v", err)
}
