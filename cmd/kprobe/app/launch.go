//go:build !nocluster

package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/datadir"
	"github.com/kprobe/kprobe/adapters/launch"
	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/adapters/upstream"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
	"github.com/kprobe/kprobe/reports/tui"
)

type launchFlags struct {
	profile, engine, dataDir, binDir, imagesDir, output, rung string
	scanTimeout                                               time.Duration
	forceRung, processPods, noProcessPods                     bool
	wait                                                      time.Duration
	mergeKubeconfig                                           bool
	tui, noTUI                                                bool
	noAddons                                                  bool
	simulateNodes                                             int
	nodes                                                     int
	bindAddress                                               string
	portOffset                                                int
	name                                                      string
}

func newLaunchCommand(s IOStreams) *cobra.Command {
	f := &launchFlags{}
	cmd := &cobra.Command{
		Use:   "launch",
		Short: "Start a Kubernetes cluster that works in this sandbox and wait until a pod runs",
		Long: `launch picks the engine, renders its configuration from the sandbox's profile,
starts every process under a detached supervisor (logs under DATA-DIR/logs), and
waits for real readiness: the API's /readyz, the node Ready and a probe pod
Running. It then writes DATA-DIR/kubeconfig and prints the export line.

Engines: k3s (a k3s binary from --bin-dir, PATH or kprobe's bin dir; get one with
'kprobe install k3s') and kubernetes (upstream components built by 'make engine',
with etcd, containerd, runc and the CNI plugins). --engine auto prefers k3s.

Nothing starts when the preflight fails: a cluster already running from the
data dir, a port in use, a missing binary or a broken data dir is an error
that names the problem and the fix.`,
		Example: `  kprobe launch
  kprobe launch --profile sandbox.toml --engine kubernetes --wait 2m
  export KUBECONFIG=/var/lib/kprobe/kubeconfig; kubectl get nodes
  kprobe launch --rung TP --port-offset 100 --data-dir /tmp/second   # a second cluster beside the first`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runLaunch(cmd, s, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.profile, "profile", "auto", "auto (scan this sandbox now), builtin:NAME (a built-in profile: kprobe profile list), or the path of a profile written by 'kprobe scan --write-profile'")
	fl.DurationVar(&f.scanTimeout, "scan-timeout", defaultScanTimeout(), scanTimeoutUsage)
	fl.StringVar(&f.engine, "engine", "auto", "auto, k3s or kubernetes")
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "where the cluster keeps its state, certificates, configuration and logs")
	fl.StringVar(&f.binDir, "bin-dir", "", "a directory to look for the engine's binaries in first")
	fl.StringVar(&f.imagesDir, "images-dir", "", "where the pause.tar and busybox.tar image archives are (default: kprobe's bin/images)")
	fl.DurationVar(&f.wait, "wait", 3*time.Minute, "how long to wait for the cluster to be ready")
	fl.BoolVar(&f.mergeKubeconfig, "merge-kubeconfig", false, "also merge the cluster into the kubeconfig $KUBECONFIG names (never the cluster's own file) or ~/.kube/config, as the context kprobe-NAME, made current (the previous file is kept as FILE.bak; stop takes it out again and restores the previous context)")
	fl.StringVar(&f.name, "name", launch.DefaultClusterName, "the cluster's name: its kubeconfig (DATA-DIR/kubeconfig, and what --merge-kubeconfig merges) names its cluster, user and context kprobe-NAME")
	fl.StringVarP(&f.output, "output", "o", "text", "text, or json for the launch result")
	fl.BoolVar(&f.tui, "tui", false, "show the live view of the phases even where it would be off")
	fl.BoolVar(&f.noTUI, "no-tui", false, "never show the live view: plain progress lines only")
	fl.BoolVar(&f.noAddons, "no-addons", false, "kubernetes engine: deploy no cluster DNS (CoreDNS) and no default StorageClass (local-path-provisioner)")
	fl.IntVar(&f.simulateNodes, "simulate-nodes", 0, "kubernetes engine: run kwok and add N simulated nodes (kprobe-sim-0..N-1) that pods are bound to but where no container runs; for testing manifests and Helm charts where no kubelet can run (T3)")
	fl.IntVar(&f.nodes, "nodes", 1, "kubernetes engine: run N real nodes, node 0 on the host and kprobe-node-1..N-1 each in its own network namespace with its own containerd, kubelet and kube-proxy (docs/launch.md#several-nodes---nodes)")
	fl.IntVar(&f.portOffset, "port-offset", 0, "kubernetes engine at TP or T3: add N to every port the cluster listens on (API 6443+N, etcd 2379+N and 2380+N, controller manager 10257+N, scheduler 10259+N, node agent 10250+N), so that a second cluster runs beside another; status, verify and stop find it by its --data-dir")
	fl.StringVar(&f.bindAddress, "bind-address", "", "kubernetes engine: the address kube-apiserver listens on (0.0.0.0 for every address); by default the narrowest that works: 127.0.0.1 for a control plane alone, the node's address when pods run (they reach the API through the kubernetes Service, which cannot point at loopback), the host's end of the nodes' bridge with --nodes")
	fl.StringVar(&f.rung, "rung", "", "plan for this rung of the ladder ("+rungNames+") instead of the profile's verdict; at most the verdict for the engine that runs")
	fl.BoolVar(&f.processPods, "process-pods", true, "let the ladder use TP (pods as processes of the sandbox, run by kprobe's node agent) where no container can start; --process-pods=false stops at the control plane only (T3) instead; --rung TP implies it")
	fl.BoolVar(&f.forceRung, "force-rung", false, "allow --rung above the verdict: for experiments in a sandbox prepared by hand (the ladder still steps down on known failures)")
	return cmd
}

func runLaunch(cmd *cobra.Command, s IOStreams, f *launchFlags) error {
	switch f.engine {
	case "auto", adapters.EngineK3s, adapters.EngineKubernetes:
	default:
		return badInput("--engine %q: use auto, k3s or kubernetes", f.engine)
	}
	if f.output != "text" && f.output != "json" {
		return badInput("--output %q: use text or json", f.output)
	}
	if f.tui && (f.noTUI || f.output != "text") {
		return badInput("--tui cannot be combined with --no-tui or --output %s", f.output)
	}
	dir, err := dataDirFlag(f.dataDir)
	if err != nil {
		return err
	}
	f.dataDir = dir
	if !launch.ValidClusterName(f.name) {
		return badInput("--name %q: use lower-case letters, digits and dashes (at most 32)", f.name)
	}
	if f.simulateNodes < 0 || f.simulateNodes > launch.MaxSimulatedNodes {
		return badInput("--simulate-nodes %d: use 0 to %d", f.simulateNodes, launch.MaxSimulatedNodes)
	}
	if f.wait <= 0 {
		return badInput("--wait must be positive")
	}
	if f.nodes < 1 || f.nodes > launch.MaxNodes {
		return badInput("--nodes %d: use 1 to %d", f.nodes, launch.MaxNodes)
	}
	if f.bindAddress != "" && net.ParseIP(f.bindAddress) == nil {
		return badInput("--bind-address %q is not an IP address", f.bindAddress)
	}
	// Process pods are on unless --process-pods=false; TP runs one real
	// node, and simulated nodes stand in for a node at T3.
	f.noProcessPods = (!f.processPods || f.nodes > 1 || f.simulateNodes > 0) && f.rung != string(profiles.TP)
	fmt.Fprintf(s.ErrOut, "kprobe: profile %s\n", f.profile)
	p, err := profileFor(cmd, f.profile, f.dataDir, f.scanTimeout)
	if err != nil {
		return err
	}
	if f.rung != "" {
		r := profiles.Rung(f.rung)
		if !profiles.ValidRung(r) || r == profiles.T4 {
			return badInput("--rung %q: use %s", f.rung, rungNames)
		}
	}
	rung := targetRung(p, profiles.Rung(f.rung), f.noProcessPods)
	if err := launchhost.NeedsRoot(os.Geteuid(), rung, f.engine); err != nil {
		return badInput("%v", err)
	}
	engine, err := chooseEngine(f.engine, f.binDir, rung)
	if err != nil {
		return err
	}
	if err := rungReachable(p, profiles.Rung(f.rung), engine, "'kprobe scan' says why; --force-rung tries anyway"); err != nil && !f.forceRung {
		return err
	}
	if f.bindAddress != "" && engine != adapters.EngineKubernetes {
		return badInput("--bind-address sets the kubernetes engine's API server, not %s: add --engine kubernetes", engine)
	}
	if f.nodes > 1 && engine != adapters.EngineKubernetes {
		return badInput("--nodes runs worker nodes of the kubernetes engine, not %s: add --engine kubernetes", engine)
	}
	if f.simulateNodes > 0 && engine != adapters.EngineKubernetes {
		return badInput("--simulate-nodes runs kwok beside the kubernetes engine, not %s: add --engine kubernetes", engine)
	}
	plan, err := adapters.Build(p, adapters.Options{Engine: engine, DataDir: f.dataDir, Rung: profiles.Rung(f.rung), NoProcessPods: f.noProcessPods})
	if err != nil {
		return err
	}
	if plan.Rung == profiles.T4 {
		return fmt.Errorf("the profile's verdict is T4: no cluster can run here (%s); 'kprobe scan' lists the blockers", profiles.RungTitle[profiles.T4])
	}
	reports.WriteLaunchPlan(s.ErrOut, engine, f.dataDir, plan)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o := launch.Options{
		DataDir: f.dataDir, BinDir: f.binDir, ImagesDir: f.imagesDir, Wait: f.wait, Self: self, Supervisor: launch.FindSupervisor(self), NodeAgent: launch.FindNodeAgent(self),
		Progress: reports.LaunchProgress(s.ErrOut), Watch: launch.WatchSignatures,
		NoAddons: f.noAddons, SimulateNodes: f.simulateNodes, Nodes: f.nodes, BindAddress: f.bindAddress, PortOffset: f.portOffset,
	}
	run := launch.Upstream
	if engine == adapters.EngineK3s {
		run = launch.K3s
	}
	// The ladder: a failure whose log line is a known signature is
	// retried with its remedy, or one rung lower; every attempt is kept.
	lo := launch.LadderOptions{Engine: engine, NoProcessPods: f.noProcessPods, Run: run, Diagnose: launch.DiagnoseLogs, Say: s.ErrOut}
	var attempts []launch.Attempt
	ladder := func(ctx context.Context, progress func(launch.Phase), say io.Writer) error {
		o.Progress, lo.Say = progress, say
		attempts, err = launch.Ladder(ctx, p, o, lo, plan.Rung)
		return err
	}
	if tui.Wanted(f.tui, f.noTUI, cmd.Flags().Changed("output"), s.Out, s.ErrOut) {
		// The live view draws on stderr, where the progress goes without it.
		title := fmt.Sprintf("%s engine · %s · %s", engine, plan.Rung, f.dataDir)
		err = tui.RunLaunch(cmd.Context(), tui.Terminal{In: s.In, Out: s.ErrOut, NoColor: !isColorTerminal(s.ErrOut)},
			tui.LaunchOptions{Title: title}, o.Progress, s.ErrOut, ladder)
	} else {
		err = ladder(cmd.Context(), o.Progress, s.ErrOut)
	}
	var res *launch.Result
	if len(attempts) > 0 {
		res = attempts[len(attempts)-1].Result
	}
	var pe *launch.PreflightError
	var me *launch.MissingError
	// A launch refused by its preflight started nothing: the data dir's
	// results are still those of the cluster that may be running there.
	refused := errors.As(err, &pe) || errors.As(err, &me)
	if res != nil && len(res.Phases) > 0 && !refused {
		if err != nil {
			res.Error = err.Error()
		}
		if serr := launch.SaveResult(res, attempts); serr != nil && err == nil {
			err = serr
		}
	}
	if err != nil {
		if errors.As(err, &pe) || errors.As(err, &me) {
			return badInput("%v", err)
		}
		return err
	}
	if nerr := launch.NameKubeconfig(res.Kubeconfig, f.name); nerr != nil {
		return fmt.Errorf("the cluster runs, but naming its kubeconfig's context failed: %w", nerr)
	}
	if f.mergeKubeconfig {
		path, merr := launch.MergeKubeconfig(f.dataDir, res.Kubeconfig, f.name)
		if merr != nil {
			return fmt.Errorf("the cluster runs, but merging the kubeconfig failed: %w", merr)
		}
		fmt.Fprintf(s.ErrOut, "kprobe: merged into %s as the context %s (kprobe stop takes it out again)\n", path, launch.ContextName(f.name))
	}
	if f.output == "json" {
		return reports.WriteLaunchJSON(s.Out, res, attempts)
	}
	reports.WriteLaunchResult(s.ErrOut, res)
	fmt.Fprintf(s.Out, "export KUBECONFIG=%s\n", res.Kubeconfig)
	return nil
}

func newStatusCommand(s IOStreams) *cobra.Command {
	var dataDir, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show which processes of a launched cluster run, its readiness and endpoints",
		Long: `status shows each process of the cluster launched from --data-dir (state, PID,
restarts, log), whether the API and the nodes are ready, and the kubeconfig.
Exit codes: 0 running, 2 launched but not running (stopped, supervisor gone),
3 no cluster was launched from the data dir.`,
		Example: `  kprobe status
  kprobe status -o json
  kprobe status --data-dir /tmp/second-cluster`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := launch.GetStatus(cmd.Context(), dataDir)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(st); err != nil {
					return err
				}
				if st.Engine == "" {
					return noCluster(dataDir)
				}
				if !st.Running {
					return &ExitError{Code: ExitBlockers, Err: launch.ErrNotRunning}
				}
				return nil
			}
			if st.Engine == "" {
				return noCluster(dataDir)
			}
			reports.WriteStatus(s.Out, dataDir, st)
			if st.Running {
				return nil
			}
			// Not running is not "ok": scripts that check the exit code
			// must not take a dead cluster for a live one.
			return &ExitError{Code: ExitBlockers, Err: launch.ErrNotRunning}
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the launch's data dir")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// noCluster is the bad input of a command pointed at a data dir no
// cluster was launched from.
func noCluster(dataDir string) error {
	return badInput("no cluster was launched from %s: launch one with 'kprobe launch', or pass the --data-dir of the launch", dataDir)
}

func newStopCommand(s IOStreams) *cobra.Command {
	var dataDir string
	var purge bool
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop a launched cluster and undo every change it made to the host",
		Long: `stop deletes the cluster's pods (so their networks are torn down), stops every
process the launch started (the store last), and undoes what the cluster changed
outside its data dir since the launch: mounts, /run/netns entries, the bridge,
iptables chains, kubepods cgroups and sysctls. --purge also removes the data dir.`,
		Example: `  kprobe stop
  kprobe stop --purge
  kprobe stop --data-dir /tmp/second-cluster --purge`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Minute)
			defer cancel()
			err := launch.Stop(ctx, dataDir, purge, s.ErrOut)
			var de *datadir.Error
			if errors.Is(err, launch.ErrNotRunning) || errors.Is(err, datadir.ErrNotMarked) || errors.As(err, &de) {
				return badInput("%v", err)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the launch's data dir")
	cmd.Flags().BoolVar(&purge, "purge", false, "also remove the data dir")
	return cmd
}

func newLogsCommand(s IOStreams) *cobra.Command {
	var dataDir string
	var follow bool
	var lines int
	cmd := &cobra.Command{
		Use:   "logs [COMPONENT]",
		Short: "Print a launched cluster's logs (all components, or one)",
		Example: `  kprobe logs
  kprobe logs kube-apiserver -n 100
  kprobe logs kubelet -f`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return badInput("logs takes at most one component")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := supervise.ReadSpec(dataDir)
			if err != nil {
				return badInput("no launch in %s (%v)", dataDir, err)
			}
			var names []string
			for _, p := range spec.Processes {
				names = append(names, p.Name)
			}
			names = append(names, "supervisor")
			if len(args) == 1 {
				ok := false
				for _, n := range names {
					ok = ok || n == args[0]
				}
				if i := slices.IndexFunc(spec.Processes, func(p supervise.Process) bool { return upstream.RunsComponent(p, args[0]) }); !ok && i >= 0 {
					// One process holds the component; its log is the
					// component's.
					in := spec.Processes[i].Name
					fmt.Fprintf(s.ErrOut, "%s runs inside %s: printing that process's log\n", args[0], in)
					args, ok = []string{in}, true
				}
				if !ok {
					return badInput("no component %q; components: %v", args[0], names)
				}
				names = args
			}
			return launch.Logs(cmd.Context(), s.Out, supervise.Layout{DataDir: dataDir}, names, lines, follow)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "the launch's data dir")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().IntVarP(&lines, "tail", "n", 50, "lines of each log to print first (-1 for all)")
	return cmd
}
