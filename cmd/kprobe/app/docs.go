package app

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
)

// newDocsCommand generates the reference pages of docs/ from the registry,
// so the manual cannot drift from the code.
func newDocsCommand(IOStreams) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "gendocs",
		Short:  "Generate docs/probes.md, docs/findings.md and docs/profiles-builtin.md from the registries",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all := suite.All()
			bs, err := profiles.Builtins()
			if err != nil {
				return err
			}
			pages := map[string][]byte{
				"probes.md":           reports.ProbesReference(all),
				"findings.md":         reports.FindingsReference(all, profiles.Ladder),
				"profiles-builtin.md": reports.BuiltinProfilesReference(bs),
			}
			for name, data := range pages {
				if err := profiles.WriteAtomic(filepath.Join(dir, name), data, false); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", filepath.Join(dir, name))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "docs", "directory to write the pages to")
	return cmd
}
