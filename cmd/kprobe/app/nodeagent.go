package app

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/podnode"
)

func newNodeAgentCommand(s IOStreams) *cobra.Command {
	var cfg podnode.Config
	var isolation string
	cmd := &cobra.Command{
		Use:   "node-agent --kubeconfig FILE --node-name NAME --data-dir DIR --tls-cert-file FILE --tls-private-key-file FILE --client-ca-file FILE",
		Short: "Run a process-pod node: each pod's containers as processes of this sandbox",
		Long: `node-agent registers a node with the cluster and runs the pods bound to it as
ordinary processes of this sandbox, with each container's image root as "/" and
the strongest isolation that works here, chosen at start and printed:

  userns  new mount, pid, uts and ipc namespaces (in a user namespace when
          kprobe lacks CAP_SYS_ADMIN); volumes bind-mounted
  chroot  the image root through chroot; volumes are copies kept up to date
  none    no root change: only static binaries work

What it gives up: every pod shares the sandbox's network (the pod IP is the
node's), and pods are not isolated from the sandbox beyond the level above.
It serves the kubelet API (logs, exec, attach, port-forward, stats summary) on
--listen with the kubelet's authentication (client certificates of
--client-ca-file, bearer tokens by TokenReview, SubjectAccessReview).
Pods' state is kept under DIR/pods, CRI logs under DIR/logs/pods, images under
DIR/images. Every pod process is stopped when the agent stops.`,
		Args:   noArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			iso, err := podnode.ParseIsolation(isolation)
			if err != nil {
				return badInput("--isolation: %v", err)
			}
			cfg.Isolation = iso
			for flag, v := range map[string]string{"--kubeconfig": cfg.Kubeconfig, "--node-name": cfg.NodeName, "--data-dir": cfg.DataDir,
				"--tls-cert-file": cfg.TLSCertFile, "--tls-private-key-file": cfg.TLSKeyFile, "--client-ca-file": cfg.ClientCAFile} {
				if v == "" {
					return badInput("node-agent needs %s", flag)
				}
			}
			if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
				return badInput("--data-dir: %v", err)
			}
			images, err := openImageStore(filepath.Join(cfg.DataDir, "images"))
			if err != nil {
				return err
			}
			cfg.Images = images
			cfg.Log = func(format string, a ...any) {
				fmt.Fprintf(s.ErrOut, "%s node-agent: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, a...))
			}
			return podnode.Run(cmd.Context(), cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig of the node's identity (system:node:NAME)")
	fl.StringVar(&cfg.NodeName, "node-name", "", "name of the node to register")
	fl.StringVar(&cfg.DataDir, "data-dir", "", "directory for pods, logs and images")
	fl.StringVar(&cfg.NodeIP, "node-ip", "", "address the node reports (default: the first global address, else 127.0.0.1)")
	fl.StringVar(&cfg.Listen, "listen", "", "kubelet API address (default NODEIP:10250)")
	fl.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "kubelet API serving certificate")
	fl.StringVar(&cfg.TLSKeyFile, "tls-private-key-file", "", "kubelet API serving key")
	fl.StringVar(&cfg.ClientCAFile, "client-ca-file", "", "CA of the clients allowed to authenticate by certificate (the API server's kubelet client)")
	fl.StringVar(&isolation, "isolation", "auto", "auto, userns, chroot or none")
	fl.StringVar(&cfg.ImagesDir, "images-dir", "", "directory of image archives (*.tar) to preload")
	fl.IntVar(&cfg.MaxPods, "max-pods", 110, "pods the node accepts")
	return cmd
}
