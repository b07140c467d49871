package app

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/k3s"
	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
)

type planFlags struct {
	profile, engine, rung, output, dataDir string
	scanTimeout                            time.Duration
	processPods, noProcessPods             bool
}

func newPlanCommand(s IOStreams) *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Print what launch would do in this sandbox, and why, without doing it",
		Long: `plan turns a profile into the plan 'kprobe launch' would follow and prints it:
the engine, the rung of the fallback ladder with its title, every setting
(component, name=value, the code of the rule that chose it, its rationale and
source), the shims, the runtime, and what rules out each rung above.

It has no side effect: it writes no file, starts nothing and changes nothing.
With --profile auto (the default) it scans this sandbox as 'kprobe scan' does,
says which built-in profile of a known sandbox is closest and why, and lets
the scan override that profile wherever they differ. builtin:NAME plans for a
built-in profile ('kprobe profile list'); a path plans for a profile file
written by 'kprobe scan --write-profile'.

Exit codes: 0 a plan that runs, 2 the plan is T4 (no cluster can run here),
3 bad input (flags, profile).`,
		Example: `  kprobe plan
  kprobe plan --profile builtin:gvisor-9p
  kprobe plan --profile sandbox.toml --engine kubernetes --output json
  kprobe plan --profile builtin:rootless-userns --output k3s-config > config.yaml
  kprobe plan --rung T3`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPlan(cmd, s, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.profile, "profile", "auto", "auto (scan now and match a built-in profile), builtin:NAME, or the path of a profile file")
	fl.DurationVar(&f.scanTimeout, "scan-timeout", defaultScanTimeout(), scanTimeoutUsage)
	fl.StringVar(&f.engine, "engine", "auto", "auto (what launch would pick here), k3s or kubernetes")
	fl.StringVar(&f.rung, "rung", "", "plan for this rung ("+rungNames+") instead of the profile's verdict; at most the verdict for the engine planned")
	fl.BoolVar(&f.processPods, "process-pods", true, "plan TP (pods as processes of the sandbox) where no container can start, as launch does; --process-pods=false plans T3 there, as launch --process-pods=false; --rung TP implies it")
	fl.StringVarP(&f.output, "output", "o", "text", "text, json (the plan) or k3s-config (the config.yaml k3s would read)")
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "the data dir launch would use")
	return cmd
}

func runPlan(cmd *cobra.Command, s IOStreams, f *planFlags) error {
	switch f.output {
	case "text", "json", "k3s-config":
	default:
		return badInput("--output %q: use text, json or k3s-config", f.output)
	}
	switch f.engine {
	case "auto", adapters.EngineK3s, adapters.EngineKubernetes:
	default:
		return badInput("--engine %q: use auto, k3s or kubernetes", f.engine)
	}
	if f.output == "k3s-config" && f.engine == adapters.EngineKubernetes {
		return badInput("--output k3s-config renders k3s's configuration; it cannot go with --engine kubernetes")
	}
	var rung profiles.Rung
	if f.rung != "" {
		rung = profiles.Rung(f.rung)
		if !profiles.ValidRung(rung) || rung == profiles.T4 {
			return badInput("--rung %q: use %s", f.rung, rungNames)
		}
	}
	dir, err := dataDirFlag(f.dataDir)
	if err != nil {
		return err
	}
	f.dataDir = dir
	p, err := profileFor(cmd, f.profile, f.dataDir, f.scanTimeout)
	if err != nil {
		return err
	}
	f.noProcessPods = !f.processPods && rung != profiles.TP
	engine := f.engine
	if f.output == "k3s-config" {
		engine = adapters.EngineK3s
	}
	if engine == "auto" {
		engine = planEngine(cmd.ErrOrStderr(), targetRung(p, rung, f.noProcessPods))
	}
	if err := rungReachable(p, rung, engine, "the plan without --rung says why"); err != nil {
		return err
	}
	plan, err := adapters.Build(p, adapters.Options{Engine: engine, DataDir: f.dataDir, Rung: rung, NoProcessPods: f.noProcessPods})
	if err != nil {
		return err
	}

	switch f.output {
	case "json":
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(plan); err != nil {
			return err
		}
	case "k3s-config":
		// The address launch would bind on this machine.
		bind, _, err := launchhost.APIBindAddress("", 0, plan, launchhost.NodeIP())
		if err != nil {
			return err
		}
		r, err := k3s.Render(plan, k3s.Options{BindAddress: bind})
		if err != nil {
			return err
		}
		if _, err := s.Out.Write(r.Config); err != nil {
			return err
		}
		if r.ContainerdTemplatePath != "" {
			fmt.Fprintf(s.ErrOut, "kprobe: launch also writes a containerd config template to %s\n", r.ContainerdTemplatePath)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(s.ErrOut, "kprobe: note: %s\n", n)
		}
	default:
		src := reports.PlanText{Profile: planSource(f.profile, p), Description: p.Description}
		if err := reports.WritePlanText(s.Out, plan, src, reports.TextOptions{Color: isColorTerminal(s.Out)}); err != nil {
			return err
		}
	}
	if err := launchhost.NeedsRoot(os.Geteuid(), plan.Rung, plan.Engine); err != nil && f.profile == "auto" {
		// The plan is this sandbox's: say what this user's launch does.
		fmt.Fprintf(s.ErrOut, "kprobe: note: not root here: %v\n", err)
	}
	if plan.Rung == profiles.T4 {
		return &ExitError{Code: ExitBlockers, Err: fmt.Errorf("the plan is T4: %s", profiles.RungTitle[profiles.T4])}
	}
	return nil
}

// planSource names the profile a plan was made for.
func planSource(spec string, p *profiles.Profile) string {
	switch {
	case spec != "auto":
		return spec
	case p.Name != "":
		return "this sandbox (scanned now) over builtin:" + p.Name
	}
	return "this sandbox (scanned now)"
}

// rungNames are the rungs --rung takes.
const rungNames = "T0, T1, T2, TP or T3"

// rungReachable refuses a --rung above what engine, the engine that will
// run, can reach here: the profile's verdict judged for that engine
// (profiles.ForEngine, as adapters.Build plans it), not the verdict of
// every engine (k3s's flannel needs vxlan links, the kubernetes engine
// does not). plan and launch both check --rung with it; why ends the
// message.
func rungReachable(p *profiles.Profile, rung profiles.Rung, engine, why string) error {
	if rung == "" || p.Verdict.Rung == "" {
		return nil
	}
	v := profiles.ForEngine(p.Verdict, p.Facts, engine).Rung
	if !profiles.Above(rung, v) {
		return nil
	}
	msg := fmt.Sprintf("--rung %s is above the verdict %s for the %s engine: this sandbox cannot reach it with that engine (%s)", rung, v, engine, why)
	if engine != adapters.EngineKubernetes && !profiles.Above(rung, profiles.ForEngine(p.Verdict, p.Facts, adapters.EngineKubernetes).Rung) {
		msg += "; the kubernetes engine can: add --engine kubernetes"
	}
	return badInput("%s", msg)
}

// targetRung is the rung a plan starts from: --rung, else the verdict;
// T3 instead of TP when process pods are off.
func targetRung(p *profiles.Profile, rung profiles.Rung, noProcessPods bool) profiles.Rung {
	if rung == "" {
		rung = p.Verdict.Rung
		if rung == "" {
			rung = profiles.Judge(p.Facts).Rung
		}
	}
	if noProcessPods && rung == profiles.TP {
		return profiles.T3
	}
	return rung
}

// planEngine is the engine launch --engine auto would pick for a plan
// starting at rung (chooseEngine). When no engine installed here can run
// it, as said on errOut, the plan is made for the engine that could: the
// kubernetes engine for process pods (TP), else k3s. A plan has no side
// effects and may be made for another machine.
func planEngine(errOut io.Writer, rung profiles.Rung) string {
	engine, err := chooseEngine("auto", "", rung)
	if err == nil {
		return engine
	}
	engine, get := adapters.EngineK3s, "'kprobe install k3s' gets one"
	if rung == profiles.TP {
		engine, get = adapters.EngineKubernetes, "process pods run beside it only"
	}
	fmt.Fprintf(errOut, "kprobe: %v\nkprobe: planning for the %s engine (%s)\n", err, engine, get)
	return engine
}

// closestBuiltin matches a fresh scan to the built-in profiles, says on w
// which one is closest and why, and returns the built-in profile with the
// scan's facts on top. When none is close enough, the scan stands alone.
func closestBuiltin(w io.Writer, fresh *profiles.Profile) *profiles.Profile {
	bs, err := profiles.Builtins()
	if err != nil {
		fmt.Fprintf(w, "kprobe: built-in profiles unavailable, planning from the scan alone: %v\n", err)
		return fresh
	}
	c := profiles.MatchClosest(fresh, bs)
	ranked := c.Ranked
	if len(ranked) == 0 {
		return fresh
	}
	top := ranked[0]
	if !c.Matched {
		fmt.Fprintf(w, "kprobe: no known sandbox is close (nearest %s at %.2f, below %.2f); planning from the scan alone\n",
			top.Name, top.Score, profiles.MinMatchScore)
		fmt.Fprintf(w, "kprobe:   %s\n", strings.Join(top.Why, "; "))
		return fresh
	}
	next := ""
	if len(ranked) > 1 {
		next = fmt.Sprintf("; next %s at %.2f", ranked[1].Name, ranked[1].Score)
	}
	fmt.Fprintf(w, "kprobe: closest known sandbox: builtin:%s (score %.2f%s)\n", top.Name, top.Score, next)
	fmt.Fprintf(w, "kprobe:   why: %s\n", strings.Join(top.Why, "; "))
	p, overridden, filled := c.Profile, c.Overridden, c.Filled
	if len(overridden) > 0 {
		fmt.Fprintf(w, "kprobe:   the scan overrides %d of its facts: %s\n", len(overridden), joinFew(overridden, 8))
	}
	if len(filled) > 0 {
		fmt.Fprintf(w, "kprobe:   taken from builtin:%s because the scan did not observe them: %s\n", top.Name, joinFew(filled, 8))
	}
	if p.Verdict.Rung != fresh.Verdict.Rung {
		fmt.Fprintf(w, "kprobe:   verdict %s with it (the scan alone says %s)\n", p.Verdict.Rung, fresh.Verdict.Rung)
	}
	return p
}

func joinFew(keys []string, n int) string {
	if len(keys) <= n {
		return strings.Join(keys, ", ")
	}
	return strings.Join(keys[:n], ", ") + fmt.Sprintf(" and %d more", len(keys)-n)
}
