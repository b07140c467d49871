// Command kube-control-plane runs kube-apiserver, kube-controller-manager
// and kube-scheduler in one process, as k3s does, and on a single node
// the kubelet, kube-proxy and the NetworkPolicy enforcer with them.
// Separate programs each map their own copy of the same Kubernetes
// libraries and Go runtime: more than half of each one's resident memory
// was those file pages
// (research/memory-floor.md). One process maps them once.
//
// Usage:
//
//	kube-control-plane COMPONENT ARG... [-- COMPONENT ARG...]...
//	kube-control-plane --version
//	kube-control-plane --components
//
// COMPONENT is kube-apiserver, kube-controller-manager, kube-scheduler,
// kubelet, kube-proxy or kube-network-policies (kprobe's NetworkPolicy
// enforcer, hack/netpol). Each section starts with a component's name and
// holds that component's own flags, exactly as its own program takes them;
// "--" separates the sections (no Kubernetes component takes a bare "--").
// Any subset may be given, each once. --components prints the components
// this build runs, one a line (a launcher asks before it gives the node's).
//
// The components start one after another, each once the previous one has
// parsed its flags (the kubelet parses its own inside its run: it is only
// started), the controller manager and the scheduler once the API
// server's /readyz answers (before its RBAC bootstrap they are refused the
// configmap they read as they start, and exit); the kubelet, kube-proxy
// and the enforcer start with the API server and retry it themselves. The
// process exits 1 as soon as any component returns (a supervisor restarts
// it), 0 when its only component returned without error (`kube-proxy
// --cleanup`), and on SIGTERM or SIGINT stops the API server and the
// kubelet gracefully and exits.
//
// Process-wide state is shared: the feature gates (every section's
// --feature-gates apply to all of them), klog's verbosity and the
// Prometheus registry. The kubelet's and the API server's commands each
// install a SIGTERM handler through genericapiserver.SetupSignalContext,
// which allows one call per process: the guard is reset between the two
// (allowSecondSignalHandler), so both stop on the signal. Each component
// applies its logging configuration; the same configuration a second time
// is accepted, a different one is an error
// (logsapi.ReapplyHandlingIgnoreUnchanged, as k3s sets it).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kprobe/kprobe/hack/netpol"
	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/cache"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/cli/globalflag"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as each component's main registers it
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, likewise
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, likewise
	"k8s.io/component-base/version"
	"k8s.io/klog/v2"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kubeproxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	scheduleroptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "time/tzdata" // CronJob time zones, as kube-apiserver's and kube-controller-manager's mains have it
)

// The components, in the order they start.
const (
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kubelet           = "kubelet"
	KubeProxy         = "kube-proxy"
	NetworkPolicies   = "kube-network-policies"
)

// order is the start order: the node's components with the API server,
// the two that exit without it after it.
var order = []string{APIServer, Kubelet, KubeProxy, NetworkPolicies, ControllerManager, Scheduler}

// needsAPI are the components started once the API server is ready.
var needsAPI = map[string]bool{ControllerManager: true, Scheduler: true}

// Section is one component's name and arguments.
type Section struct {
	Name string
	Args []string
}

// ParseSections splits the command line into the components' sections,
// in the order they start.
func ParseSections(argv []string) ([]Section, error) {
	if len(argv) == 0 {
		return nil, errors.New("no component given")
	}
	var got []Section
	seen := map[string]bool{}
	for len(argv) > 0 {
		name := argv[0]
		if !slices.Contains(order, name) {
			return nil, fmt.Errorf("%q: each section starts with one of %s", name, strings.Join(order, ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("%s is given twice", name)
		}
		seen[name] = true
		argv = argv[1:]
		end := slices.Index(argv, "--")
		if end < 0 {
			end = len(argv)
		}
		got = append(got, Section{Name: name, Args: argv[:end]})
		argv = argv[end:]
		if len(argv) > 0 {
			argv = argv[1:] // the "--"
			if len(argv) == 0 {
				return nil, errors.New(`"--" ends the command line: a component's name must follow it`)
			}
		}
	}
	slices.SortStableFunc(got, func(a, b Section) int { return slices.Index(order, a.Name) - slices.Index(order, b.Name) })
	return got, nil
}

const usage = "usage: kube-control-plane COMPONENT ARG... [-- COMPONENT ARG...]... (COMPONENT: kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kube-network-policies)"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("Kubernetes " + version.Get().GitVersion)
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "--components" {
		fmt.Println(strings.Join(order, "\n"))
		return
	}
	sections, err := ParseSections(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-control-plane: %v\n%s\n", err, usage)
		os.Exit(2)
	}
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged
	os.Exit(run(sections))
}

// shutdownGrace is how long the API server may take to return after
// SIGTERM; the supervisor kills after 15 s (adapters/upstream).
const shutdownGrace = 5 * time.Second

// exit is a component's return.
type exit struct {
	name string
	err  error
}

func run(sections []Section) int {
	defer klog.Flush()
	// The API server's command installs the process's signal handler
	// (genericapiserver.SetupSignalContext, which panics when called
	// twice) and shuts down gracefully on the first signal; this one only
	// learns that a stop was asked for.
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	done := make(chan exit, len(sections))
	var api *cobra.Command
	for _, s := range sections {
		if needsAPI[s.Name] && api != nil {
			// The controller manager and the scheduler read the API
			// server's authentication configmap as they start and exit
			// when RBAC does not let them yet: they start once /readyz
			// (which includes the RBAC bootstrap) answers.
			select {
			case <-readyz(ctx, api):
				api = nil // asked once
			case e := <-done:
				klog.ErrorS(e.err, "Component exited while starting", "component", e.name)
				return 1
			case <-stop:
				return 1
			}
		}
		cmd, e, ok := start(ctx, s, done)
		if !ok {
			if len(sections) == 1 && e.err == nil {
				return 0
			}
			klog.ErrorS(e.err, "Component exited while starting", "component", e.name)
			return 1
		}
		if s.Name == APIServer {
			api = cmd
		}
	}
	settleMemoryLimit(ctx)
	var stopping bool
	var grace <-chan time.Time
	for {
		select {
		case <-stop:
			if stopping {
				return 1
			}
			stopping = true
			cancel() // the scheduler's context
			if !slices.ContainsFunc(sections, func(s Section) bool { return s.Name == APIServer }) {
				return 0
			}
			grace = time.After(shutdownGrace)
		case <-grace:
			// Seen by hand: the API server had stopped its controllers and
			// listeners but its command had not returned 20 s after SIGTERM
			// (the in-process controller manager, which has no stop, keeps
			// requests open).
			klog.InfoS("The API server has not returned; exiting", "after", shutdownGrace)
			return 0
		case e := <-done:
			switch {
			case stopping && e.name == APIServer && e.err == nil:
				return 0
			case stopping && e.name != APIServer:
				continue // the scheduler and the kubelet return on the stop
			case len(sections) == 1 && e.err == nil:
				return 0
			}
			klog.ErrorS(e.err, "Component exited; stopping the others", "component", e.name)
			return 1
		}
	}
}

// start runs a section's command in a goroutine and returns once it has
// parsed its flags and set the shared feature gates (its
// PersistentPreRunE), so that no two components parse into the shared
// flag values at once; or, with ok false, when it ended before that.
func start(ctx context.Context, s Section, done chan<- exit) (cmd *cobra.Command, e exit, ok bool) {
	cmd = command(ctx, s.Name)
	cmd.SetArgs(s.Args)
	cmd.SilenceUsage = true
	parsed := make(chan struct{})
	pre := cmd.PersistentPreRunE
	cmd.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		defer close(parsed)
		if pre != nil {
			return pre(c, args)
		}
		return nil
	}
	ended := make(chan exit, 1)
	go func() {
		e := exit{s.Name, cmd.Execute()}
		ended <- e
		done <- e
	}()
	select {
	case <-parsed:
		return cmd, exit{}, true
	case e := <-ended:
		return cmd, e, false
	}
}

// readyz is closed when the API server whose command parsed its flags
// answers /readyz with 200 on its --bind-address and --secure-port
// (anonymous requests may read it: adapters/upstream's authentication
// configuration). Only the status code is read, so the serving
// certificate is not verified.
func readyz(ctx context.Context, apiserver *cobra.Command) <-chan struct{} {
	host := apiserver.Flags().Lookup("bind-address").Value.String()
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	url := "https://" + net.JoinHostPort(host, apiserver.Flags().Lookup("secure-port").Value.String()) + "/readyz"
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // only the status is read
	}}
	ready := make(chan struct{})
	go func() {
		for ctx.Err() == nil {
			if resp, err := client.Get(url); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					close(ready)
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return ready
}

func command(ctx context.Context, name string) *cobra.Command {
	switch name {
	case APIServer:
		return apiserver.NewAPIServerCommand()
	case Kubelet:
		// Its run installs the second signal handler of the process.
		allowSecondSignalHandler()
		return kubelet.NewKubeletCommand(ctx)
	case KubeProxy:
		return kubeproxy.NewProxyCommand()
	case NetworkPolicies:
		return networkPoliciesCommand(ctx)
	case ControllerManager:
		// It starts a signal handler only with the alpha gate
		// ControllerManagerReleaseLeaderElectionLockOnExit, which would
		// panic here (the API server has the process's one).
		return controllermanager.NewControllerManagerCommand()
	default:
		return schedulerCommand(ctx)
	}
}

// networkPoliciesCommand is kprobe's NetworkPolicy enforcer
// (hack/netpol): its own flags, parsed by netpol.Main, and no signal
// handler (it stops, and removes its nftables table, when ctx ends).
func networkPoliciesCommand(ctx context.Context) *cobra.Command {
	return &cobra.Command{
		Use:                NetworkPolicies,
		SilenceUsage:       true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := netpol.Main(ctx, flag.NewFlagSet(NetworkPolicies, flag.ContinueOnError), args); code != 0 {
				return fmt.Errorf("exit status %d", code)
			}
			return nil
		},
	}
}

// schedulerCommand is kube-scheduler's command (app.NewSchedulerCommand)
// without its signal handler, which would panic beside the API server's:
// the scheduler stops when ctx ends instead.
func schedulerCommand(ctx context.Context) *cobra.Command {
	opts := scheduleroptions.NewOptions()
	cmd := &cobra.Command{
		Use:          Scheduler,
		SilenceUsage: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return opts.ComponentGlobalsRegistry.Set()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			fg := opts.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
			if err := logsapi.ValidateAndApply(opts.Logs, fg); err != nil {
				return err
			}
			cliflag.PrintFlags(cmd.Flags())
			name, err := cache.NewInformerName(Scheduler)
			if err != nil {
				return err
			}
			opts.InformerName = name
			cc, sched, err := scheduler.Setup(ctx, opts)
			if err != nil {
				return err
			}
			return scheduler.Run(ctx, cc, sched)
		},
		Args: cobra.NoArgs,
	}
	globalflag.AddGlobalFlags(opts.Flags.FlagSet("global"), cmd.Name(), logs.SkipLoggingConfigurationFlags())
	for _, f := range opts.Flags.FlagSets {
		cmd.Flags().AddFlagSet(f)
	}
	return cmd
}

// SettledMemoryLimitEnv names the Go memory limit, in bytes, that the
// process takes once its components have started and settled: the API
// server's start (its OpenAPI documents, every resource's handlers) and
// the informers' first lists allocate far more than an idle node keeps,
// and a limit that low from the start makes the collector run through
// them (about a second later to /readyz, measured by
// BenchmarkClusterT0). GOMEMLIMIT is the limit until then.
const SettledMemoryLimitEnv = "KUBE_CONTROL_PLANE_SETTLED_GOMEMLIMIT"

// settleDelay is how long after the last component started the settled
// limit applies: the kubelet's first pods and the controllers' first
// syncs are done by then on a single node.
const settleDelay = 30 * time.Second

// settleMemoryLimit sets the settled memory limit settleDelay from now
// where SettledMemoryLimitEnv asks for one.
func settleMemoryLimit(ctx context.Context) {
	limit, err := strconv.ParseInt(os.Getenv(SettledMemoryLimitEnv), 10, 64)
	if err != nil || limit <= 0 {
		return
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(settleDelay):
			was := debug.SetMemoryLimit(limit)
			klog.InfoS("Settled the Go memory limit", "bytes", limit, "was", was)
		}
	}()
}
