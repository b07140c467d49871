//go:build !nocluster

package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/install"
)

func newInstallCommand(s IOStreams) *cobra.Command {
	var from, binDir string
	cmd := &cobra.Command{
		Use:   "install ENGINE",
		Short: "Install an engine kprobe drives (k3s, kubernetes)",
		Long: `install puts an engine where kprobe looks for it: see 'kprobe install k3s --help'
and 'kprobe install kubernetes --help'. 'kprobe install --from FILE' installs a
bundle made by 'kprobe bundle create' (no network needed).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return badInput("%s: unknown engine %q; kprobe can install: k3s, kubernetes", cmd.CommandPath(), args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from != "" {
				return installBundle(s, from, binDir)
			}
			return cmd.Help()
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "install kprobe and the engine from a bundle made by 'kprobe bundle create'")
	cmd.Flags().StringVar(&binDir, "bin-dir", "", "with --from: the install dir (default ~/.local/share/kprobe/engine)")
	cmd.AddCommand(newInstallK3sCommand(s), newInstallKubernetesCommand(s))
	return cmd
}

func newInstallK3sCommand(s IOStreams) *cobra.Command {
	var o install.InstallOptions
	cmd := &cobra.Command{
		Use:   "k3s (--version V | --from FILE [--sha256-file F]) [--dir DIR]",
		Short: "Install the k3s binary, checked against its sha256",
		Long: `install k3s puts a k3s binary in DIR (by default the directory kprobe itself is
in, where kprobe looks for k3s after $PATH) as DIR/k3s, mode 0755. The file is
written under a temporary name and renamed into place only once complete and
verified, so an interrupted install never leaves a half-written k3s.

--version V downloads k3s release V from github.com/k3s-io/k3s (the asset for
this machine's architecture: k3s on amd64, k3s-arm64 on arm64, k3s-armhf on arm)
together with the release's sha256sum-<arch>.txt, and installs the binary only
if its sha256 is the one that file lists. It honours HTTPS_PROXY and
SSL_CERT_FILE; --base-url points it at a mirror laid out like the release
downloads. The checksum file still comes from the release itself (or from
--checksum-base-url, laid out the same way), never from the mirror: a mirror
that alters the binary could alter its checksum file too. Every download is
HTTPS, redirects included, unless --insecure is given.

--from FILE installs a k3s binary you already have (air-gapped machines, or a
download made elsewhere). With --sha256-file F it is checked first: F may be a
release's sha256sum-<arch>.txt, any sha256sum output naming the file, or a bare
digest. Without it the file is installed unverified, and kprobe says so.

Exit codes: 0 installed, 3 bad input (flags, a version that is not a release,
a checksum mismatch on --from), 1 other failures (network, disk, a corrupt
download).`,
		Example: `  kprobe install k3s --version v1.32.2+k3s1
  kprobe install k3s --version v1.32.2+k3s1 --dir ~/.local/bin
  kprobe install k3s --from ./k3s --sha256-file ./sha256sum-amd64.txt`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case o.Version == "" && o.From == "":
				return badInput("%s needs --version V (download a release) or --from FILE (a binary you have)", cmd.CommandPath())
			case o.Version != "" && o.From != "":
				return badInput("--version and --from exclude each other: download a release or install a file, not both")
			case o.SHA256File != "" && o.From == "":
				return badInput("--sha256-file goes with --from; a --version download is checked against the release's own sha256sum file")
			case cmd.Flags().Changed("base-url") && o.From != "":
				return badInput("--base-url goes with --version; --from installs a local file")
			case (o.Insecure || o.ChecksumBaseURL != "") && o.From != "":
				return badInput("--insecure and --checksum-base-url go with --version; --from installs a local file")
			}
			o.Progress = s.ErrOut
			path, err := install.InstallK3s(cmd.Context(), o)
			if errors.Is(err, install.ErrInput) {
				return &ExitError{Code: ExitBadInput, Err: err}
			}
			var uerr *url.Error
			if errors.As(err, &uerr) && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%w\n(if this machine cannot reach the release server, download k3s and its sha256sum-<arch>.txt elsewhere and use --from FILE --sha256-file F, or point --base-url at a mirror)", err)
			}
			if errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("%w\n(install into a directory you can write with --dir, such as ~/.local/bin, or run as root)", err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "installed %s\n", path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Version, "version", "", "k3s release to download, such as v1.32.2+k3s1 (see https://github.com/k3s-io/k3s/releases)")
	f.StringVar(&o.From, "from", "", "install this local k3s binary instead of downloading one")
	f.StringVar(&o.SHA256File, "sha256-file", "", "with --from: verify the file against this checksum file first")
	f.StringVar(&o.Dir, "dir", "", "directory to install k3s into (default: the directory kprobe is in)")
	f.StringVar(&o.BaseURL, "base-url", install.DefaultBaseURL, "with --version: download the binary from this mirror of k3s's release downloads (<base-url>/<version>/<asset>)")
	f.StringVar(&o.ChecksumBaseURL, "checksum-base-url", "", "with --version: read sha256sum-<arch>.txt from <checksum-base-url>/<version>/, a server other than --base-url's (default: the k3s release itself)")
	f.BoolVar(&o.Insecure, "insecure", false, "with --version: allow plain-HTTP URLs and redirects, which anyone on the network path can alter")
	return cmd
}
