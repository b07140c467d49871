package app

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/capture"
	"github.com/kprobe/kprobe/probes/suite"
)

func newCaptureCommand(s IOStreams) *cobra.Command {
	var name, dataDir, note string
	var redactUsers []string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "capture DIR",
		Short: "Record what the probes see here into a redacted fixture tree",
		Long: `capture runs the whole probe suite and copies exactly the files the passive probes
read (redacted: host names, IP and MAC addresses, user names, home paths, secrets
in the environment), the answers of every syscall they made and the results of
the active probes into DIR, which must be new or an empty directory of yours (capture never
deletes or overwrites what it did not write). 'kprobe scan --from-capture DIR' replays it, so
anyone can see what kprobe concludes about a sandbox they are not in.`,
		Example: `  kprobe capture /tmp/my-sandbox
  kprobe scan --from-capture /tmp/my-sandbox
  kprobe capture --redact-user alice /tmp/rootless-podman`,
		Args: exactArgs(1, "the directory to write the capture to"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			// Checked before the probes run, and again by Write.
			if err := capture.CheckDir(dir); err != nil {
				return badInput("%v", err)
			}
			if timeout <= 0 {
				return badInput("--timeout must be positive")
			}
			live := probes.LiveEnv(dataDir)
			rec, env := capture.NewRecorder(live)
			rec.Users = redactUsers
			sc := probes.Run(cmd.Context(), env, suite.All(), probes.Options{Timeout: timeout})
			kernel := ""
			if u, err := live.Sys.Uname(); err == nil {
				kernel = u.Release
			}
			if name == "" {
				name = sc.Facts.String("identity.sandbox")
			}
			prov := capture.Provenance{
				Name: name, Kernel: kernel, KprobeVersion: Version,
				Captured: time.Now().UTC().Truncate(time.Second),
				Command:  "kprobe " + strings.Join(os.Args[1:], " "),
				DataDir:  live.DataDir, Note: note,
			}
			if err := rec.Write(dir, "/", prov); err != nil {
				var de *capture.DirError
				if errors.As(err, &de) {
					return badInput("%v", err)
				}
				return fmt.Errorf("write capture: %w", err)
			}
			fmt.Fprintf(s.Out, "captured %d probes into %s; replay with: kprobe scan --from-capture %s\n", len(sc.Results), dir, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the sandbox's name in PROVENANCE.toml (default: the detected identity)")
	cmd.Flags().StringVar(&note, "note", "", "a note stored in PROVENANCE.toml")
	cmd.Flags().StringSliceVar(&redactUsers, "redact-user", nil, "also redact these user names, which this sandbox's /etc/passwd does not list (the user who started a rootless container)")
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the directory the cluster will write, as launch --data-dir")
	cmd.Flags().DurationVar(&timeout, "timeout", probes.DefaultTimeout, "time limit for each probe")
	return cmd
}
