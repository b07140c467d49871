package app

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/launchhost"
)

// versionInfo is what 'kprobe version -o json' prints.
type versionInfo struct {
	Version   string                 `json:"version"`
	GoVersion string                 `json:"goVersion"`
	Platform  string                 `json:"platform"`
	Engine    []launchhost.Component `json:"engine"`
}

func newVersionCommand(s IOStreams) *cobra.Command {
	var output, binDir string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print kprobe's version and the versions of the engine programs it would run",
		Long: `version prints kprobe's own version, then each program of the engines that is
installed (the kubernetes engine's components, etcd, containerd, runc, kubectl,
helm, kwok, k3s) with where it was found and, when the binary's Go build info
records it, its version. Nothing is executed to find out.`,
		Example: `  kprobe version
  kprobe version -o json
  kprobe version --bin-dir /opt/kubernetes/bin`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return badInput("--output %q: use text or json", output)
			}
			v := versionInfo{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
				Engine: launchhost.EngineComponents(binDir)}
			if v.Engine == nil {
				v.Engine = []launchhost.Component{}
			}
			if output == "json" {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			fmt.Fprintf(s.Out, "kprobe %s (%s, %s)\n", v.Version, v.GoVersion, v.Platform)
			if len(v.Engine) == 0 {
				fmt.Fprintln(s.Out, "no engine program found (make engine, or --bin-dir)")
			}
			for _, c := range v.Engine {
				ver := c.Version
				if ver == "" {
					ver = "(version not recorded)"
				}
				fmt.Fprintf(s.Out, "%-24s %-24s %s\n", c.Name, ver, c.Path)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().StringVar(&binDir, "bin-dir", "", "a directory to look for the engine's binaries in first, as launch --bin-dir")
	return cmd
}
