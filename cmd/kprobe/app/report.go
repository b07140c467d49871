package app

import (
	"bytes"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/bounded"
	"github.com/kprobe/kprobe/probes/redact"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
)

// reportClock stamps reports; tests replace it.
var reportClock = time.Now

type reportFlags struct {
	input, dataDir, format, file string
	scan, noRedact, redact       bool
	hosts, users                 []string
}

func newReportCommand(s IOStreams) *cobra.Command {
	f := &reportFlags{}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write a shareable report of this sandbox: text, Markdown, HTML or JSON, redacted",
		Long: `report assembles everything kprobe knows about a sandbox into one report: the
scan (facts, blockers and warnings with their fixes, the ladder verdict), the
closest built-in profile, the plan, and, when a launch left them in --data-dir,
the launch attempts and the last 'kprobe verify'.

The scan is either run now (--scan, the default) or read from --input, the JSON
written by 'kprobe scan -o json' or 'kprobe report -o json' ('-' reads
stdin). Formats (-o/--output, as everywhere in kprobe): text (the terminal, the
default), md (Markdown), html (one self-contained page: inline CSS, no script,
no external asset) and json. --file/-f writes to a file instead of stdout.

md, html and json are meant for sharing and are redacted unless --no-redact:
host names, IP and MAC addresses, user names and home paths, tokens and
credentials (in environment variables, URLs, JWTs) and machine IDs become
placeholders. --redact redacts text too.

'kprobe report merge' builds a compatibility matrix from several JSON reports.
Exit codes: 0 written, 3 bad input (flags, an unreadable or foreign report).`,
		Example: `  kprobe report -o html -f sandbox.html
  kprobe scan -o json > scan.json; kprobe report --input scan.json -o md
  kprobe report --input scan.json --data-dir /var/lib/kprobe -o json -f report.json
  kprobe report merge gvisor.json podman.json userns.json -o html -f matrix.html`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReport(cmd, s, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.input, "input", "", "read the scan from this JSON report ('kprobe scan -o json'; '-' for stdin) instead of scanning")
	fl.BoolVar(&f.scan, "scan", false, "scan this sandbox now (the default without --input)")
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "a launch's data dir: its run/launch.json, run/attempts.json and run/verify.json go in the report")
	addFormatFlags(cmd, f, "text", "text, md, html or json")
	addRedactFlags(cmd, f)
	fl.BoolVar(&f.redact, "redact", false, "redact the text format too")
	cmd.AddCommand(newReportMergeCommand(s))
	return cmd
}

// addFormatFlags adds -o/--output (the format, as in every kprobe command)
// and -f/--file (the destination); --format is the old name of --output.
func addFormatFlags(cmd *cobra.Command, f *reportFlags, def, usage string) {
	fl := cmd.Flags()
	fl.StringVarP(&f.format, "output", "o", def, usage)
	fl.StringVar(&f.format, "format", def, usage)
	// Hidden, not MarkDeprecated: cobra prints that notice on stdout.
	_ = fl.MarkHidden("format")
	fl.StringVarP(&f.file, "file", "f", "", "write to this file (atomically) instead of stdout")
}

func addRedactFlags(cmd *cobra.Command, f *reportFlags) {
	fl := cmd.Flags()
	fl.BoolVar(&f.noRedact, "no-redact", false, "keep host names, addresses, users, tokens and machine IDs (md, html and json are redacted by default)")
	fl.StringSliceVar(&f.hosts, "redact-host", nil, "also replace these host names (this machine's are always replaced)")
	fl.StringSliceVar(&f.users, "redact-user", nil, "also replace these user names (this machine's are always replaced)")
}

// warnFormat says --format is the old name of -o/--output.
func warnFormat(cmd *cobra.Command, s IOStreams) {
	if cmd.Flags().Changed("format") {
		fmt.Fprintln(s.ErrOut, "kprobe: --format is deprecated, use -o/--output (the file to write is --file/-f)")
	}
}

func runReport(cmd *cobra.Command, s IOStreams, f *reportFlags) error {
	warnFormat(cmd, s)
	switch f.format {
	case "text", "md", "markdown", "html", "json":
	default:
		return badInput("--output %q: use text, md, html or json (the file to write is --file/-f)", f.format)
	}
	if f.input != "" && f.scan {
		return badInput("--input and --scan exclude each other: read a report or scan now")
	}
	if f.noRedact && f.redact {
		return badInput("--redact and --no-redact exclude each other")
	}
	if !filepath.IsAbs(f.dataDir) {
		abs, err := filepath.Abs(f.dataDir)
		if err != nil {
			return badInput("--data-dir: %v", err)
		}
		f.dataDir = abs
	}
	schema := probes.SchemaOf(suite.All())
	var r *reports.Report
	planDir := f.dataDir
	if f.input != "" {
		var err error
		if r, err = readReport(s, f.input, schema); err != nil {
			return err
		}
		if !cmd.Flags().Changed("data-dir") {
			planDir = "" // the scan may come from another machine
		}
	} else {
		out, err := doScan(cmd, &scanFlags{timeout: defaultScanTimeout(), dataDir: f.dataDir})
		if err != nil {
			return err
		}
		r = out.report
	}
	prof := r.ScanProfile()
	if bs, err := profiles.Builtins(); err == nil {
		prof = r.MatchBuiltin(bs)
	} else {
		fmt.Fprintf(s.ErrOut, "kprobe: built-in profiles unavailable, no closest sandbox in the report: %v\n", err)
	}
	if prof.Verdict.Rung != profiles.T4 {
		plan, err := adapters.Build(prof, adapters.Options{DataDir: planDir})
		if err != nil {
			return err
		}
		r.Plan = plan
	}
	run, err := reports.LoadRun(f.dataDir)
	if err != nil {
		return badInput("--data-dir: %v", err)
	}
	if run == nil && cmd.Flags().Changed("data-dir") {
		fmt.Fprintf(s.ErrOut, "kprobe: no launch results in %s (run/launch.json, run/attempts.json, run/verify.json)\n", filepath.Join(f.dataDir, "run"))
	}
	r.AddRun(run)
	r.Stamp(Version, reportClock())

	redacting := f.redact || (!f.noRedact && f.format != "text")
	if redacting {
		red, err := localRedactor(f, r)
		if err != nil {
			return err
		}
		if r, err = r.Redact(red, schema); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	switch f.format {
	case "md", "markdown":
		err = reports.WriteMarkdown(&buf, r)
	case "html":
		err = reports.WriteHTML(&buf, r)
	case "json":
		err = reports.WriteJSON(&buf, r)
	default:
		err = reports.WriteText(&buf, r, reports.TextOptions{Color: f.file == "" && isColorTerminal(s.Out)})
	}
	if err != nil {
		return err
	}
	return writeReport(s, f.file, buf.Bytes())
}

// readReport reads and decodes a JSON report; every failure is bad input.
func readReport(s IOStreams, path string, schema probes.Schema) (*reports.Report, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = bounded.ReadAll(s.In, bounded.Report)
	} else {
		data, err = bounded.ReadFile(path, bounded.Report)
	}
	if err != nil {
		return nil, badInput("%v", err)
	}
	r, err := reports.Decode(data, schema)
	if err != nil {
		return nil, badInput("%s: %v", path, err)
	}
	return r, nil
}

// localRedactor removes this machine's host and user names, those of the
// flags, and those home paths in rs give away.
func localRedactor(f *reportFlags, rs ...*reports.Report) (*redact.Redactor, error) {
	hosts, users := redact.Local("/")
	return reports.NewRedactor(append(hosts, f.hosts...), append(users, f.users...), rs...)
}

// writeReport writes data to path atomically, or to stdout without one.
func writeReport(s IOStreams, path string, data []byte) error {
	if path == "" {
		_, err := s.Out.Write(data)
		return err
	}
	if err := profiles.WriteAtomic(path, data, false); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(s.ErrOut, "kprobe: report written to %s\n", path)
	return nil
}

func newReportMergeCommand(s IOStreams) *cobra.Command {
	f := &reportFlags{}
	cmd := &cobra.Command{
		Use:   "merge REPORT.json...",
		Short: "Build a compatibility matrix from several JSON reports, one column per sandbox",
		Long: `merge reads JSON reports ('kprobe scan -o json' or 'kprobe report -o json')
and writes a compatibility matrix: one column per sandbox, named after its
closest built-in profile (else its identity, else its file), and rows for the
identity, the ladder verdict, the rung a launch reached and the verification
when the reports have them, the capabilities, key facts and every blocker code.
Columns are sorted by name, then file, so the matrix does not depend on the
order of the arguments. The output is redacted unless --no-redact.`,
		Example: `  kprobe report merge gvisor.json podman.json -o md -f matrix.md`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return badInput("%s needs at least one JSON report", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			warnFormat(cmd, s)
			return runMerge(s, f, args)
		},
	}
	addFormatFlags(cmd, f, "md", "md or html")
	addRedactFlags(cmd, f)
	return cmd
}

func runMerge(s IOStreams, f *reportFlags, files []string) error {
	switch f.format {
	case "md", "markdown", "html":
	default:
		return badInput("--output %q: merge writes md or html (the file to write is --file/-f)", f.format)
	}
	schema := probes.SchemaOf(suite.All())
	bs, berr := profiles.Builtins()
	var named []reports.Named
	var rs []*reports.Report
	for _, path := range files {
		r, err := readReport(s, path, schema)
		if err != nil {
			return err
		}
		if r.Profile == nil && berr == nil {
			r.MatchBuiltin(bs)
		}
		rs = append(rs, r)
		named = append(named, reports.Named{File: reports.FileLabel(path), Report: r})
	}
	if !f.noRedact {
		red, err := localRedactor(f, rs...)
		if err != nil {
			return err
		}
		for i := range named {
			if named[i].Report, err = named[i].Report.Redact(red, schema); err != nil {
				return err
			}
		}
	}
	m := reports.Merge(named)
	var buf bytes.Buffer
	var err error
	if f.format == "html" {
		err = reports.WriteMatrixHTML(&buf, m)
	} else {
		err = reports.WriteMatrixMarkdown(&buf, m)
	}
	if err != nil {
		return err
	}
	return writeReport(s, f.file, buf.Bytes())
}
