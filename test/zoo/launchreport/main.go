// Command launchreport turns the evidence of the zoo launch test into
// research pages: one per launch (research/launches/<name>.md), the
// matrix (research/launches/README.md) and one page per success criterion
// of the research (research/criteria/).
//
//	KPROBE_ZOO_LAUNCH=1 KPROBE_ZOO_EVIDENCE=$PWD/research/evidence/launches go test -run TestLaunchInZoo ./test/zoo/
//	go run ./test/zoo/launchreport -in research/evidence/launches -out research/launches -criteria research/criteria
//
// Each evidence directory holds what test/zoo/launch_test.go captured
// inside the sandbox: case.json (what the launch must reach and why),
// plan.json and plan.log, launch.log, run/launch.json and
// run/attempts.json, verify.json, status.txt, stop.log and the tails of
// the component logs. The pages depend only on that input.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

type launchCase struct {
	Name    string   `json:"name"`
	Sandbox string   `json:"sandbox"`
	Reach   string   `json:"reach"`
	Why     string   `json:"why"`
	DataDir string   `json:"dataDir"`
	Wrap    string   `json:"wrap"`
	Flags   []string `json:"flags"`
	Pass    []string `json:"pass"`
}

type setting struct {
	Component string `json:"component"`
	Name      string `json:"name"`
	Value     string `json:"value"`
	Reason    string `json:"reason"`
}

type shim struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

type blocker struct {
	Requirement string `json:"requirement"`
	Detail      string `json:"detail"`
	Fix         string `json:"fix"`
}

type plan struct {
	Engine   string    `json:"engine"`
	Rung     string    `json:"rung"`
	Settings []setting `json:"settings"`
	Shims    []shim    `json:"shims"`
	Verdict  struct {
		Rung   string `json:"rung"`
		Title  string `json:"title"`
		Checks []struct {
			Rung     string    `json:"rung"`
			Possible bool      `json:"possible"`
			Blockers []blocker `json:"blockers"`
		} `json:"checks"`
	} `json:"verdict"`
}

type phase struct {
	Name string  `json:"name"`
	Done bool    `json:"done"`
	AtMS float64 `json:"atMs"`
}

type result struct {
	Rung      string    `json:"rung"`
	Ready     bool      `json:"ready"`
	StartedAt time.Time `json:"startedAt"`
	Phases    []phase   `json:"phases"`
	Plan      *plan     `json:"plan"`
	Shims     []struct {
		Name    string   `json:"name"`
		Applied bool     `json:"applied"`
		Notes   []string `json:"notes"`
		Error   string   `json:"error"`
	} `json:"shims"`
}

func (r *result) at(name string) (float64, bool) {
	for _, p := range r.Phases {
		if p.Name == name && p.Done {
			return p.AtMS / 1000, true
		}
	}
	return 0, false
}

type attempt struct {
	Rung      string `json:"rung"`
	Ready     bool   `json:"ready"`
	Error     string `json:"error"`
	Diagnosis *struct {
		Code      string `json:"code"`
		Component string `json:"component"`
		Line      string `json:"line"`
		Diagnosis string `json:"diagnosis"`
		Fix       string `json:"fix"`
	} `json:"diagnosis"`
	Result *result `json:"result"`
}

type check struct {
	Name     string `json:"name"`
	Outcome  string `json:"outcome"`
	Evidence string `json:"evidence"`
}

// launch is one evidence directory, read.
type launch struct {
	Case     launchCase
	Plan     plan
	Matched  string // the plan.log line naming the closest known sandbox
	Final    result
	Attempts []attempt
	Checks   []check
	Stop     string
}

func main() {
	in := flag.String("in", "research/evidence/launches", "the evidence directories")
	out := flag.String("out", "research/launches", "where the pages go")
	crit := flag.String("criteria", "research/criteria", "where the pages per success criterion go")
	flag.Parse()
	if err := run(*in, *out, *crit); err != nil {
		fmt.Fprintln(os.Stderr, "launchreport:", err)
		os.Exit(1)
	}
}

func run(in, out, crit string) error {
	dirs, err := os.ReadDir(in)
	if err != nil {
		return err
	}
	var ls []*launch
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		l, err := read(filepath.Join(in, d.Name()))
		if err != nil {
			return fmt.Errorf("%s: %w", d.Name(), err)
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		return fmt.Errorf("no evidence under %s: run the zoo launch test with KPROBE_ZOO_EVIDENCE", in)
	}
	sort.SliceStable(ls, func(i, j int) bool { return rank(ls[i]) < rank(ls[j]) })
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(out, in)
	if err != nil {
		rel = in
	}
	for _, l := range ls {
		var b strings.Builder
		page(&b, l, filepath.ToSlash(filepath.Join(rel, l.Case.Name)))
		if err := os.WriteFile(filepath.Join(out, l.Case.Name+".md"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	var b strings.Builder
	matrix(&b, ls, filepath.ToSlash(rel))
	if err := os.WriteFile(filepath.Join(out, "README.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return writeCriteria(crit, ls, out)
}

// rank orders the matrix best rung first, then by name.
func rank(l *launch) string { return l.Final.Rung + " " + l.Case.Name }

func read(dir string) (*launch, error) {
	l := &launch{}
	if err := readJSON(filepath.Join(dir, "case.json"), &l.Case); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, "plan.json"), &l.Plan); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, "run", "launch.json"), &l.Final); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, "run", "attempts.json"), &l.Attempts); err != nil {
		return nil, err
	}
	var v struct {
		Checks []check `json:"checks"`
	}
	if err := readJSON(filepath.Join(dir, "verify.json"), &v); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l.Checks = v.Checks
	if b, err := os.ReadFile(filepath.Join(dir, "plan.log")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "closest known sandbox") {
				l.Matched = strings.TrimSpace(strings.TrimPrefix(line, "kprobe:"))
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "stop.log")); err == nil {
		l.Stop = strings.TrimSpace(string(b))
	}
	return l, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

func (l *launch) passed() (n, of int) {
	for _, c := range l.Checks {
		if c.Outcome == "pass" {
			n++
		}
		if c.Outcome != "skipped" {
			of++
		}
	}
	return n, of
}

// endedBy lists the signature codes that ended the failed attempts.
func (l *launch) endedBy() string {
	var codes []string
	for _, a := range l.Attempts {
		if a.Diagnosis != nil {
			codes = append(codes, a.Rung+": "+a.Diagnosis.Code)
		} else if !a.Ready {
			codes = append(codes, a.Rung+": "+firstLine(a.Error))
		}
	}
	if len(codes) == 0 {
		return "—"
	}
	return strings.Join(codes, "; ")
}

func timings(r *result) string {
	api, ok := r.at("api")
	if !ok {
		return "—"
	}
	s := fmt.Sprintf("API %.1f s", api)
	if node, ok := r.at("node"); ok {
		s += fmt.Sprintf(", node %.1f s", node)
	}
	if pod, ok := r.at("pod"); ok {
		s += fmt.Sprintf(", pod %.1f s", pod)
	}
	return s
}

func matrix(w io.Writer, ls []*launch, evidence string) {
	fmt.Fprintf(w, "# Launches in the sandbox zoo\n\n")
	fmt.Fprintf(w, "Generated by `make zoo-launch-report` from the evidence that `make zoo-launch` captured inside each\n")
	fmt.Fprintf(w, "sandbox (`%s/`). Each launch is `kprobe launch --profile auto`, then `kprobe verify`, then\n", evidence)
	fmt.Fprintf(w, "`kprobe stop --purge`, with the upstream engine (v1.37.2 components, Debian's etcd, containerd and runc\n")
	fmt.Fprintf(w, "from the host's /usr bound read-only into the container images). `test/zoo/launch_test.go` fails when a\n")
	fmt.Fprintf(w, "launch does not reach the rung in the table or a required check does not pass.\n\n")
	fmt.Fprintf(w, "| launch | sandbox | plan | reached | ended attempts | checks passed | timings |\n|---|---|---|---|---|---|---|\n")
	for _, l := range ls {
		n, of := l.passed()
		fmt.Fprintf(w, "| [%s](%s.md) | %s | %s | **%s** | %s | %d/%d | %s |\n", l.Case.Name, l.Case.Name, l.Case.Sandbox,
			l.Plan.Rung, l.Final.Rung, cell(l.endedBy()), n, of, timings(&l.Final))
	}
	fmt.Fprintf(w, "\nRungs: T0 full cluster; T1 degraded worker (fallback snapshotter, shims); T2 worker without kube-proxy,\n")
	fmt.Fprintf(w, "network policy or flannel; T3 control plane only (kubectl and `helm install --dry-run=server` work); T4 nothing.\n")
	fmt.Fprintf(w, "\"plan\" is the rung `kprobe plan --profile auto` predicted inside the sandbox; \"ended attempts\" names the\n")
	fmt.Fprintf(w, "log signature that ended each failed attempt of the ladder. Checks skipped at T3 (no node) are not counted.\n\n")
	fmt.Fprintf(w, "## Why each stops where it does\n\n")
	for _, l := range ls {
		fmt.Fprintf(w, "- **%s** (%s): %s\n", l.Case.Name, l.Final.Rung, l.Case.Why)
	}
}

func page(w io.Writer, l *launch, evidence string) {
	c := l.Case
	fmt.Fprintf(w, "# %s: %s reached\n\n", c.Name, l.Final.Rung)
	date := ""
	if !l.Final.StartedAt.IsZero() {
		date = " on " + l.Final.StartedAt.UTC().Format("2006-01-02")
	}
	fmt.Fprintf(w, "Measured%s inside the zoo sandbox `%s` (test/zoo/README.md) by `make zoo-launch`; evidence:\n", date, c.Sandbox)
	fmt.Fprintf(w, "[`%s/`](%s/). Generated by `make zoo-launch-report`.\n\n", evidence, evidence)
	if c.Wrap != "" {
		fmt.Fprintf(w, "The launch ran under `%s` inside the sandbox.\n\n", strings.ReplaceAll(c.Wrap, "{stage}/", "test/zoo/"))
	}
	if len(c.Flags) > 0 {
		fmt.Fprintf(w, "Launch flags: `%s`.\n\n", strings.Join(c.Flags, " "))
	}
	fmt.Fprintf(w, "**Plan: %s. Reached: %s** (%s). %s\n\n", l.Plan.Rung, l.Final.Rung, timings(&l.Final), c.Why)
	if l.Matched != "" {
		fmt.Fprintf(w, "`--profile auto`: %s.\n\n", l.Matched)
	}

	fmt.Fprintf(w, "## Attempts (the fallback ladder)\n\n| # | rung | ready | ended by | log line |\n|---|---|---|---|---|\n")
	for i, a := range l.Attempts {
		by, line := "—", ""
		if a.Diagnosis != nil {
			by, line = a.Diagnosis.Code, a.Diagnosis.Component+": "+a.Diagnosis.Line
		} else if !a.Ready {
			by = cell(firstLine(a.Error))
		}
		fmt.Fprintf(w, "| %d | %s | %v | %s | %s |\n", i+1, a.Rung, a.Ready, by, code(line))
	}
	for _, a := range l.Attempts {
		if a.Diagnosis != nil {
			fmt.Fprintf(w, "\n%s at %s: %s Fix: %s\n", a.Diagnosis.Code, a.Rung, a.Diagnosis.Diagnosis, a.Diagnosis.Fix)
		}
	}

	applied := l.Final.Plan
	if applied == nil {
		applied = &l.Plan
	}
	fmt.Fprintf(w, "\n## What the last attempt ran with\n\n")
	if len(applied.Settings) == 0 {
		fmt.Fprintf(w, "No setting beyond the engine's defaults.\n")
	} else {
		fmt.Fprintf(w, "| component | setting | reason |\n|---|---|---|\n")
		for _, s := range applied.Settings {
			fmt.Fprintf(w, "| %s | `%s=%s` | %s |\n", s.Component, s.Name, s.Value, s.Reason)
		}
	}
	if len(applied.Shims) > 0 {
		fmt.Fprintf(w, "\n| shim | reason | what it did |\n|---|---|---|\n")
		for _, s := range applied.Shims {
			did := "applied by the launcher (runtime wrapper)"
			for _, o := range l.Final.Shims {
				if o.Name != s.Name {
					continue
				}
				switch {
				case o.Error != "":
					did = "not applied: " + o.Error
				case !o.Applied:
					did = "in place already"
				default:
					did = strings.Join(o.Notes, "; ")
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", s.Name, s.Reason, cell(did))
		}
	}

	fmt.Fprintf(w, "\n## Verification\n\n")
	if len(l.Checks) == 0 {
		fmt.Fprintf(w, "No verification ran.\n")
	} else {
		fmt.Fprintf(w, "| check | outcome | evidence |\n|---|---|---|\n")
		for _, ch := range l.Checks {
			fmt.Fprintf(w, "| %s | %s | %s |\n", ch.Name, ch.Outcome, cell(ch.Evidence))
		}
	}

	fmt.Fprintf(w, "\n## What rules out the rungs above %s\n\n", l.Plan.Rung)
	any := false
	for _, ch := range l.Plan.Verdict.Checks {
		if ch.Possible || len(ch.Blockers) == 0 {
			continue
		}
		any = true
		fmt.Fprintf(w, "- %s:", ch.Rung)
		for i, b := range ch.Blockers {
			sep := ";"
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(w, "%s %s (`%s`)", sep, b.Requirement, b.Detail)
		}
		fmt.Fprintln(w)
	}
	if !any {
		fmt.Fprintf(w, "Nothing: the plan starts at the top of the ladder.\n")
	}
	if l.Stop != "" {
		fmt.Fprintf(w, "\n## kprobe stop --purge\n\n```\n%s\n```\n", l.Stop)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// cell makes text safe in a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(firstLine(s), "|", "\\|")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func code(s string) string {
	if s == "" {
		return ""
	}
	s = cell(s)
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}
