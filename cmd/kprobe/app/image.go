//go:build !nocluster

package app

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/images"
	"github.com/kprobe/kprobe/adapters/imagestore"
	"github.com/kprobe/kprobe/adapters/launch"
)

func newImageCommand(s IOStreams) *cobra.Command {
	var dataDir, binDir string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Load images into a launched cluster and list them",
		Long: `image load puts images you have as files into the runtime of the cluster
launched from --data-dir, so pods can use them without a registry: containerd's
k8s.io namespace (what the kubelet sees) on a cluster with a kubelet, or the node
agent's image store on a cluster of process pods. Use imagePullPolicy: Never or
IfNotPresent (the default for a tag other than :latest) in the pods that run them.
See docs/images.md.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the launch's data dir")
	cmd.PersistentFlags().StringVar(&binDir, "bin-dir", "", "where the engine's ctr is (default: where launch looks)")
	runtime := func() (launch.Runtime, error) {
		rt, err := launch.FindRuntime(dataDir, binDir)
		if errors.Is(err, launch.ErrNotRunning) {
			return rt, badInput("%v", err)
		}
		return rt, err
	}
	load := &cobra.Command{
		Use:   "load FILE|DIR...",
		Short: "Load docker-archive or OCI layout images (tar or directory) into the cluster",
		Example: `  docker save -o app.tar app:v1 && kprobe image load app.tar
  kprobe image load ./oci-layout-dir`,
		Args: minArgs(1, "an image archive (tar) or OCI layout directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if _, err := os.Stat(a); err != nil {
					return badInput("%v", err)
				}
			}
			rt, err := runtime()
			if err != nil {
				return err
			}
			for _, a := range args {
				if rt.ImageStore != "" {
					st, err := imagestore.Open(imagestore.Options{Dir: rt.ImageStore})
					if err != nil {
						return err
					}
					refs, err := st.Load(cmd.Context(), a)
					if err != nil {
						return err
					}
					for _, r := range refs {
						fmt.Fprintf(s.Out, "loaded %s from %s\n", r, a)
					}
					continue
				}
				if err := images.Load(cmd.Context(), rt.Ctr, rt.Socket, a); err != nil {
					return err
				}
				fmt.Fprintf(s.Out, "loaded %s into containerd (namespace %s)\n", a, images.CRINamespace)
			}
			return nil
		},
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the images the cluster's runtime holds",
		Example: `  kprobe image ls
  kprobe image ls --data-dir /tmp/kprobe`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rt, err := runtime()
			if err != nil {
				return err
			}
			if rt.ImageStore == "" {
				out, err := images.List(cmd.Context(), rt.Ctr, rt.Socket)
				if err != nil {
					return err
				}
				fmt.Fprint(s.Out, out)
				return nil
			}
			st, err := imagestore.Open(imagestore.Options{Dir: rt.ImageStore})
			if err != nil {
				return err
			}
			list, err := st.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REF\tDIGEST\tSIZE")
			for _, im := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", im.Ref, im.Digest, im.Size)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(load, ls)
	return cmd
}

// minArgs requires at least n positional arguments.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return badInput("%s needs %s", cmd.CommandPath(), what)
		}
		return nil
	}
}
