//go:build !nocluster

package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kprobe/kprobe/adapters/download"
	"github.com/kprobe/kprobe/adapters/install"
)

func newInstallKubernetesCommand(s IOStreams) *cobra.Command {
	o := install.KubernetesOptions{Versions: install.DefaultVersions}
	var caFile, cacheDir string
	cmd := &cobra.Command{
		Use:   "kubernetes [--version V] [--mirror URL] [--bin-dir DIR]",
		Short: "Download the upstream Kubernetes engine, verified, into a user directory",
		Long: `install kubernetes fetches what the kubernetes engine runs, from the sites
each project publishes its releases on: the Kubernetes binaries (kube-apiserver,
kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl), etcd,
containerd, runc, the CNI plugins, helm, and the image archives kprobe launch
imports (pause, busybox, CoreDNS, local-path-provisioner; from kprobe's own
release, as no project publishes these as archives).

Each file is checked against the checksum file its project publishes beside it
(<binary>.sha256, SHA256SUMS, <file>.sha256sum) before anything is unpacked or
made executable. Downloads are HTTPS only, redirects included; they honour
HTTPS_PROXY and NO_PROXY (a proxy URL may carry user:password) and trust the
system's CA roots, SSL_CERT_FILE, and --ca-file. They are kept by digest in the
cache dir, so a second install downloads nothing, and an interrupted download
resumes where it stopped when run again.

--mirror URL takes every file, checksum files included, from one HTTPS mirror
that holds the upstream paths under <URL>/<upstream host>/: for example
<URL>/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet. The checksums then
guard against corruption and truncation; a mirror you do not trust could serve
matching checksum files too.

Everything goes into --bin-dir (default ~/.local/share/kprobe/engine, where
kprobe launch looks without being told): the binaries, DIR/cni and DIR/images.
No root is needed.

Exit codes: 0 installed, 3 bad input (flags, versions, a plain-HTTP mirror, a
missing file), 1 other failures (network, disk, a checksum mismatch).`,
		Example: `  kprobe install kubernetes
  kprobe install kubernetes --bin-dir ~/kprobe-engine
  kprobe install kubernetes --mirror https://127.0.0.1:8443 --ca-file ./mirror-ca.pem`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cacheDir == "" {
				if cacheDir, err = download.DefaultCacheDir(); err != nil {
					return badInput("%v; pass --cache-dir", err)
				}
			}
			client, err := download.NewClient(download.ClientOptions{CAFile: caFile})
			if err != nil {
				return &ExitError{Code: ExitBadInput, Err: err}
			}
			tty := false
			if f, ok := s.ErrOut.(*os.File); ok {
				tty = term.IsTerminal(int(f.Fd()))
			}
			o.Cache = &download.Cache{Dir: cacheDir, Client: client, Progress: s.ErrOut, TTY: tty}
			dir, err := install.InstallKubernetes(cmd.Context(), o)
			var uerr *url.Error
			switch {
			case errors.Is(err, install.ErrInput):
				return &ExitError{Code: ExitBadInput, Err: err}
			case errors.As(err, &uerr) && !errors.Is(err, context.Canceled):
				return fmt.Errorf("%w\n(if this machine reaches the internet only through a proxy, set HTTPS_PROXY; for a TLS-intercepting proxy, --ca-file; or use --mirror)", err)
			case errors.Is(err, fs.ErrPermission):
				return fmt.Errorf("%w\n(install into a directory you can write with --bin-dir)", err)
			case err != nil:
				return err
			}
			fmt.Fprintf(s.Out, "installed the kubernetes engine in %s\n", dir)
			fmt.Fprintf(s.Out, "launch it with: kprobe launch --engine kubernetes --bin-dir %s\n", dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Versions.Kubernetes, "version", o.Versions.Kubernetes, "Kubernetes release")
	f.StringVar(&o.Versions.Etcd, "etcd-version", o.Versions.Etcd, "etcd release")
	f.StringVar(&o.Versions.Containerd, "containerd-version", o.Versions.Containerd, "containerd release")
	f.StringVar(&o.Versions.Runc, "runc-version", o.Versions.Runc, "runc release")
	f.StringVar(&o.Versions.CNI, "cni-version", o.Versions.CNI, "CNI plugins release")
	f.StringVar(&o.Versions.Helm, "helm-version", o.Versions.Helm, "helm release")
	f.StringVar(&o.Versions.Images, "images-version", o.Versions.Images, "kprobe release whose image archives are installed")
	f.StringVar(&o.Mirror, "mirror", "", "an HTTPS mirror holding every file under <URL>/<upstream host>/<upstream path>")
	f.StringVar(&o.Dir, "bin-dir", "", "install directory (default $XDG_DATA_HOME/kprobe/engine or ~/.local/share/kprobe/engine)")
	f.StringVar(&caFile, "ca-file", "", "a PEM CA bundle to trust besides the system roots (a TLS-intercepting proxy, a private mirror)")
	f.StringVar(&cacheDir, "cache-dir", "", "where downloads are kept (default $XDG_CACHE_HOME/kprobe or ~/.cache/kprobe)")
	return cmd
}
