package app

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
)

// registerCompletions teaches shell completion ('kprobe completion bash')
// the values of kprobe's flags, by flag name, in every command that has
// them: profiles (auto, builtin:NAME, TOML files), finding codes, data
// dirs, engines and rungs.
func registerCompletions(c *cobra.Command) {
	for _, sub := range c.Commands() {
		registerCompletions(sub)
	}
	fixed := func(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values, cobra.ShellCompDirectiveNoFileComp
		}
	}
	for name, fn := range map[string]func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective){
		"profile": completeProfiles(true),
		"ignore":  completeIgnore,
		"engine":  fixed("auto", "k3s", "kubernetes"),
		"rung":    fixed("T0", "T1", "T2", "TP", "T3"),
		"data-dir": func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		},
	} {
		if c.Flags().Lookup(name) != nil {
			_ = c.RegisterFlagCompletionFunc(name, fn)
		}
	}
	switch c.CommandPath() {
	case "kprobe profile show", "kprobe profile validate":
		c.ValidArgsFunction = completeProfiles(false)
	case "kprobe logs":
		c.ValidArgsFunction = completeComponents
	}
}

// completeProfiles offers builtin:NAME for every built-in profile (and
// auto for --profile); a word that is none of them completes as a path to
// a .toml file.
func completeProfiles(auto bool) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if !auto && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		if auto {
			names = append(names, "auto")
		}
		for _, n := range profiles.BuiltinNames() {
			names = append(names, profiles.BuiltinPrefix+n)
		}
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		if len(out) > 0 {
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		return []string{"toml"}, cobra.ShellCompDirectiveFilterFileExt
	}
}

// completeIgnore offers the blocker codes (and all), after the ones
// already typed in a comma-separated list.
func completeIgnore(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	prefix := ""
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		prefix = toComplete[:i+1]
	}
	var out []string
	for _, c := range append([]string{"all"}, probes.BlockerCodes(suite.All())...) {
		out = append(out, prefix+c)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeComponents offers the components of the launch in --data-dir.
func completeComponents(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	dir, _ := cmd.Flags().GetString("data-dir")
	spec, err := supervise.ReadSpec(dir)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	out := []string{"supervisor"}
	for _, p := range spec.Processes {
		out = append(out, p.Name)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
