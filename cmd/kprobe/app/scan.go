package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/capture"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
	"github.com/kprobe/kprobe/reports/tui"
)

type scanFlags struct {
	output       string
	writeProfile string
	only, skip   []string
	passive      bool
	timeout      time.Duration
	ignore       []string
	dataDir      string
	fromCapture  string
	verbose      bool
	tui, noTUI   bool
}

func newScanCommand(s IOStreams) *cobra.Command {
	f := &scanFlags{}
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Fingerprint this sandbox and report what blocks Kubernetes",
		Long: `scan runs kprobe's probe suite: passive probes read /proc, /sys and /dev; active
probes try things (mount an overlay, create namespaces, write back sysctls, start
a container) in a re-exec'd child inside a private mount namespace and a temp
dir, and leave nothing behind.

It prints every probe grouped by domain with its status (ok, warn, block,
unknown) and a line of evidence, then the blockers with paste-ready fixes, and
ends with the verdict: the highest rung of the fallback ladder (T0 full ... TP process pods, T3
control plane only, T4 nothing) this sandbox looks able to reach.`,
		Example: `  kprobe scan
  kprobe scan --output json > scan.json
  kprobe scan --write-profile sandbox.toml
  kprobe scan --passive --only identity,kernel,cgroups
  kprobe scan --ignore KP-RES-002,KP-FS-005
  kprobe scan --from-capture probes/testdata/sandboxes/host`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScan(cmd, s, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text, json or toml (the profile)")
	fl.StringVar(&f.writeProfile, "write-profile", "", "also write the TOML profile to this path (atomically; the previous one is kept as PATH.bak)")
	fl.StringSliceVar(&f.only, "only", nil, "run only these probe IDs (comma-separated)")
	fl.StringSliceVar(&f.skip, "skip", nil, "skip these probe IDs (comma-separated)")
	fl.BoolVar(&f.passive, "passive", false, "run no active probe: only read files and query the kernel")
	fl.DurationVar(&f.timeout, "timeout", defaultScanTimeout(), "time limit for each probe (default $"+ScanTimeoutEnv+" or 10s)")
	fl.StringSliceVar(&f.ignore, "ignore", nil, "finding codes to downgrade from blocker to warning, or 'all'")
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "the directory the cluster will write, as launch --data-dir (its filesystem, free space and overlay support are probed)")
	fl.StringVar(&f.fromCapture, "from-capture", "", "replay a capture made by 'kprobe capture' instead of probing this machine")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print every line of evidence and every fact")
	fl.BoolVar(&f.tui, "tui", false, "show the live view even where it would be off (it is on by default on a terminal)")
	fl.BoolVar(&f.noTUI, "no-tui", false, "never show the live view: plain output only")
	return cmd
}

// scanOutcome is what one scan produced.
type scanOutcome struct {
	scan    *probes.Scan
	profile *profiles.Profile
	report  *reports.Report
}

func (f *scanFlags) options() probes.Options {
	return probes.Options{Only: f.only, Skip: f.skip, Passive: f.passive, Timeout: f.timeout, Ignore: f.ignore,
		// The slowest probe (three containers) runs only where its answer
		// can change the verdict, and starts late where it will likely
		// not be needed.
		Needed: map[string]func(probes.Facts) (bool, string){"container": profiles.ContainerNeeded},
		Hold:   map[string]func(probes.Facts) probes.Tri{"container": profiles.ContainerHold}}
}

// doScan runs (or replays) the suite and judges the result.
func doScan(cmd *cobra.Command, f *scanFlags) (*scanOutcome, error) {
	run, _, err := prepareScan(f)
	if err != nil {
		return nil, err
	}
	return run(cmd.Context(), nil), nil
}

// prepareScan checks the flags and readies the probes and their
// environment; run scans, handing each finished probe to onResult.
func prepareScan(f *scanFlags) (run func(ctx context.Context, onResult func(probes.Result)) *scanOutcome, ps []probes.Probe, err error) {
	if f.timeout <= 0 {
		return nil, nil, badInput("--timeout must be positive, got %s", f.timeout)
	}
	all := suite.All()
	ps, err = probes.Select(all, f.options())
	if err != nil {
		return nil, nil, badInput("%v", err)
	}
	env := probes.LiveEnv(f.dataDir)
	// A cluster kprobe runs from the data dir is not a blocker of itself.
	env.Own = launchhost.OwnProcesses(env.DataDir)
	source := "live"
	if f.fromCapture != "" {
		env, err = capture.ReplayEnv(f.fromCapture, all)
		if err != nil {
			return nil, nil, badInput("--from-capture: %v", err)
		}
		source = f.fromCapture
	}
	return func(ctx context.Context, onResult func(probes.Result)) *scanOutcome {
		o := f.options()
		o.OnResult = onResult
		sc := probes.Run(ctx, env, ps, o)
		p := profiles.FromScan(sc, Version, time.Now())
		if f.passive {
			p.Verdict = profiles.JudgeOnEvidence(p.Facts)
		}
		return &scanOutcome{scan: sc, profile: p, report: reports.FromScan(sc, p, source)}
	}, ps, nil
}

// saveProfile writes --write-profile, if asked.
func (f *scanFlags) saveProfile(out *scanOutcome) error {
	if f.writeProfile == "" {
		return nil
	}
	return profiles.Save(f.writeProfile, out.profile, probes.SchemaOf(suite.All()))
}

// scanWithTUI runs the scan under the live view (reports/tui); the
// profile is written by the scan's goroutine, never by the view.
func scanWithTUI(ctx context.Context, s IOStreams, f *scanFlags, run func(context.Context, func(probes.Result)) *scanOutcome, ps []probes.Probe) (*scanOutcome, error) {
	var out *scanOutcome
	var saveErr error
	source := "live"
	if f.fromCapture != "" {
		source = f.fromCapture
	}
	_, uiErr := tui.RunScan(ctx, tui.Terminal{In: s.In, Out: s.Out, NoColor: !isColorTerminal(s.Out)},
		tui.ScanOptions{Probes: ps, Source: source},
		func(ctx context.Context, onResult func(probes.Result)) tui.ScanDone {
			out = run(ctx, onResult)
			saveErr = f.saveProfile(out)
			d := tui.ScanDone{Verdict: out.profile.Verdict, Identity: out.profile.Identity, Err: saveErr}
			if saveErr == nil {
				d.Profile = f.writeProfile
			}
			return d
		})
	if uiErr != nil {
		fmt.Fprintf(s.ErrOut, "kprobe: the live view could not run (%v); plain output follows\n", uiErr)
	}
	return out, saveErr
}

func runScan(cmd *cobra.Command, s IOStreams, f *scanFlags) error {
	switch f.output {
	case "text", "json", "toml":
	default:
		return badInput("--output %q: use text, json or toml", f.output)
	}
	if f.tui && f.noTUI {
		return badInput("--tui and --no-tui contradict each other")
	}
	if f.tui && f.output != "text" {
		return badInput("--tui shows the text output; it cannot be combined with --output %s", f.output)
	}
	run, ps, err := prepareScan(f)
	if err != nil {
		return err
	}
	var out *scanOutcome
	if tui.Wanted(f.tui, f.noTUI, cmd.Flags().Changed("output"), s.Out) {
		out, err = scanWithTUI(cmd.Context(), s, f, run, ps)
	} else {
		out = run(cmd.Context(), nil)
		err = f.saveProfile(out)
	}
	if err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	if f.writeProfile != "" {
		fmt.Fprintf(s.ErrOut, "kprobe: profile written to %s\n", f.writeProfile)
	}
	switch f.output {
	case "json":
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out.report); err != nil {
			return err
		}
	case "toml":
		data, err := profiles.Encode(out.profile)
		if err != nil {
			return err
		}
		if _, err := s.Out.Write(data); err != nil {
			return err
		}
	default:
		if err := reports.WriteText(s.Out, out.report, reports.TextOptions{
			Color: isColorTerminal(s.Out), Verbose: f.verbose,
		}); err != nil {
			return err
		}
	}
	if len(out.scan.Blockers()) > 0 {
		return errBlockers
	}
	return nil
}
