// Command kprobe-node-agent is kprobe's process-pod node: a virtual-kubelet
// node whose pods run as processes of the sandbox (rung TP). It is a binary
// of its own so that kprobe, which every scan starts many times, does not
// carry the node's Kubernetes server libraries (about 60 MB and 50 ms of
// start-up per process).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/sys/reexec"
	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/imagestore"
	"github.com/kprobe/kprobe/adapters/podnode"
)

// Version is set at build time (make build).
var Version = "dev"

// Exit codes, as kprobe's (docs/troubleshooting.md).
const (
	exitInternal = 1
	exitBadInput = 3
)

// badInputError is an error caused by the command line.
type badInputError struct{ error }

func badInput(format string, a ...any) error { return badInputError{fmt.Errorf(format, a...)} }

func main() {
	// The agent re-runs itself as a container's init (adapters/podnode).
	podnode.RegisterInit()
	if reexec.Init() {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newCommand().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "kprobe-node-agent: "+err.Error())
	if errors.As(err, new(badInputError)) {
		os.Exit(exitBadInput)
	}
	os.Exit(exitInternal)
}

func newCommand() *cobra.Command {
	var cfg podnode.Config
	var isolation string
	cmd := &cobra.Command{
		Use:   "kprobe-node-agent --kubeconfig FILE --node-name NAME --data-dir DIR --tls-cert-file FILE --tls-private-key-file FILE --client-ca-file FILE",
		Short: "Run a process-pod node: each pod's containers as processes of this sandbox",
		Long: `kprobe-node-agent registers a node with the cluster and runs the pods bound to
it as ordinary processes of this sandbox, with each container's image root as "/"
and the strongest isolation that works here, chosen at start and printed:

  userns  new mount, pid, uts and ipc namespaces (in a user namespace when
          the agent lacks CAP_SYS_ADMIN); volumes bind-mounted
  chroot  the image root through chroot; emptyDirs and claims are moved into
          the root of the container that runs, other volumes are copies
  none    no root change: only static binaries work

What it gives up: every pod shares the sandbox's network (the pod IP is the
node's), and pods are not isolated from the sandbox beyond the level above.
It serves the kubelet API (logs, exec, attach, port-forward, stats summary) on
--listen with the kubelet's authentication (client certificates of
--client-ca-file, bearer tokens by TokenReview, SubjectAccessReview).
Pods' state is kept under DIR/pods, CRI logs under DIR/logs/pods, images under
DIR/images. Every pod process is stopped when the agent stops.

kprobe launch --process-pods starts it next to the control plane; it is found
next to the kprobe executable, else on PATH.`,
		Example: `  kprobe-node-agent --kubeconfig /tmp/kp/kubeconfigs/kubelet.conf --node-name kprobe-node \
    --data-dir /tmp/kp-agent --node-ip 127.0.0.1 \
    --tls-cert-file /tmp/kp/pki/kubelet-serving.crt --tls-private-key-file /tmp/kp/pki/kubelet-serving.key \
    --client-ca-file /tmp/kp/pki/ca.crt`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return badInput("kprobe-node-agent takes no arguments, got %q", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			iso, err := podnode.ParseIsolation(isolation)
			if err != nil {
				return badInput("--isolation: %v", err)
			}
			cfg.Isolation = iso
			for flag, v := range map[string]string{"--kubeconfig": cfg.Kubeconfig, "--node-name": cfg.NodeName, "--data-dir": cfg.DataDir,
				"--tls-cert-file": cfg.TLSCertFile, "--tls-private-key-file": cfg.TLSKeyFile, "--client-ca-file": cfg.ClientCAFile} {
				if v == "" {
					return badInput("kprobe-node-agent needs %s", flag)
				}
			}
			if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
				return badInput("--data-dir: %v", err)
			}
			// Credentials from the user's docker config, proxies from the
			// environment.
			images, err := imagestore.Open(imagestore.Options{Dir: filepath.Join(cfg.DataDir, "images")})
			if err != nil {
				return err
			}
			cfg.Images = images
			cfg.Log = func(format string, a ...any) {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s node-agent: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, a...))
			}
			return podnode.Run(cmd.Context(), cfg)
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput("%v (see %s --help)", err, c.CommandPath())
	})
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
	fl.StringVar(&cfg.PodCIDR, "pod-cidr", "", "range the pods' IPs come from, each reached on its loopback mirror 127.X.Y.Z (default: every pod has the node's IP)")
	fl.StringVar(&cfg.ClusterDNS, "cluster-dns", "", "cluster DNS address written into ClusterFirst pods' resolv.conf (default: the sandbox's resolv.conf)")
	fl.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "cluster domain of the pods' DNS search path")
	fl.StringVar(&cfg.ServiceCIDR, "service-cidr", "", "range of the ClusterIPs; where ports below 1024 cannot be bound, pods' connects to them are moved to the proxy's port+64512")
	fl.StringVar(&cfg.ProxyKubeconfig, "proxy-kubeconfig", "", "kubeconfig of the Service proxy (kube-proxy's identity); unset: no Service proxy")
	return cmd
}
