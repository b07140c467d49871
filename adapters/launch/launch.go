package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/hoststate"
	"github.com/kprobe/kprobe/adapters/images"
	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/launchresult"
	"github.com/kprobe/kprobe/adapters/pki"
	"github.com/kprobe/kprobe/adapters/signatures"
	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// Options of a launch.
type Options struct {
	DataDir   string
	BinDir    string
	ImagesDir string
	NodeName  string
	// Wait bounds the whole launch, readiness included.
	Wait time.Duration
	// Self is the kprobe executable (kprobe-cluster) that runs the
	// runtime wrapper, and the supervisor where Supervisor is "".
	Self string
	// Supervisor is the executable whose `supervise` runs the supervisor:
	// kprobe-supervisor or the light kprobe beside Self (FindSupervisor),
	// which map no Kubernetes library for the cluster's lifetime.
	Supervisor string
	// NodeAgent is the kprobe-node-agent executable (FindNodeAgent) that
	// runs the process-pod node at TP; "" when there is none.
	NodeAgent string
	// Progress receives every phase as it starts and ends.
	Progress func(Phase)
	// Watch, when set, tails the components' logs during the launch and
	// reports the first known failure signature; it ends the attempt.
	Watch func(ctx context.Context, logDir string) <-chan error
	// NoAddons skips the cluster DNS and storage add-ons (addons.go).
	NoAddons bool
	// SimulateNodes runs kwok and registers that many simulated nodes
	// (kwok.go): pods are bound to them, no container runs.
	SimulateNodes int
	// Nodes is how many real nodes run (nodes.go): node 0 on the host,
	// the others in their own network namespaces. 0 or 1: one node.
	Nodes int
	// BindAddress is kube-apiserver's --bind-address; "" lets
	// APIBindAddress choose the narrowest one that works.
	BindAddress string
	// PortOffset is added to every port the control plane and the node
	// agent listen on (6443, 2379, 2380, 10250, 10257, 10259), so that a
	// second cluster at T3 or TP runs beside another; 0 at T0-T2.
	PortOffset int
}

type tracker struct {
	mu       sync.Mutex
	start    time.Time
	res      *Result
	progress func(Phase)
}

func (t *tracker) begin(name, detail string) func(err error) {
	began := time.Now()
	if t.progress != nil {
		t.progress(Phase{Name: name, Detail: detail, AtMS: ms(began.Sub(t.start))})
	}
	return func(err error) {
		now := time.Now()
		p := Phase{Name: name, Detail: detail, Done: err == nil, AtMS: ms(now.Sub(t.start)), TookMS: ms(now.Sub(began))}
		if err != nil {
			p.Detail = err.Error()
		}
		t.mu.Lock()
		t.res.Phases = append(t.res.Phases, p)
		t.mu.Unlock()
		if t.progress != nil {
			t.progress(p)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// begin starts an attempt's record and bounds it by o.Wait (3 min when
// unset), for every engine.
func begin(ctx context.Context, engine string, plan *adapters.Plan, o Options) (context.Context, context.CancelFunc, *Result, *tracker) {
	start := time.Now()
	res := &Result{Engine: engine, Rung: string(plan.Rung), DataDir: o.DataDir, StartedAt: start, Plan: plan}
	wait := o.Wait
	if wait <= 0 {
		wait = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	return ctx, cancel, res, &tracker{start: start, res: res, progress: o.Progress}
}

// readyBy is the attempt's deadline (begin bounds it by --wait), up to
// which the supervisor waits for a component still busy starting past its
// own readiness limit (adapters/supervise/progress.go).
func readyBy(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// makeNestedCgroupRoot makes the kubelet's cgroup root the plan nests
// below the sandbox's own cgroup (R-CGROUP-NEST), journaled so that stop
// removes it: the kubelet refuses a root that does not exist.
func makeNestedCgroupRoot(plan *adapters.Plan, snap *hoststate.Snapshot, dataDir string) error {
	root, ok := plan.Get(adapters.Kubelet, "cgroup-root")
	if !ok || !plan.Worker() {
		return nil
	}
	if err := snap.MakeNestedCgroupRoot(root, func() error { return snap.Save(snapshotPath(dataDir)) }); err != nil {
		return fmt.Errorf("the kubelet's cgroup root %s: %w", root, err)
	}
	return nil
}

// Files of a data dir that launch and stop share.
func resultPath(dataDir string) string   { return launchresult.Path(dataDir) }
func snapshotPath(dataDir string) string { return filepath.Join(dataDir, "run", "host-before.json") }

// Upstream launches the kubernetes engine for plan. On failure after the
// supervisor started, the cluster is left running for `kprobe logs` and
// `kprobe stop`; the error says so.
func Upstream(ctx context.Context, plan *adapters.Plan, o Options) (*Result, error) {
	o.ImagesDir = installedImages(o.ImagesDir, o.BinDir)
	res, err := upstreamLaunch(ctx, plan, o)
	return res, interrupted(ctx, res, o.DataDir, err)
}

// interrupted stops what a launch started when the user interrupted it
// (Ctrl+C, SIGTERM: the command's context is cancelled), so that no
// half-started cluster and no host change is left behind. A launch that
// its preflight refused started nothing, and another launch's cluster
// is not touched.
func interrupted(parent context.Context, res *Result, dataDir string, err error) error {
	if err == nil || parent.Err() == nil || res == nil {
		return err
	}
	if _, ok := res.Timing("preflight"); !ok {
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 2*time.Minute)
	defer cancel()
	if serr := Stop(sctx, dataDir, false, io.Discard); serr != nil && !errors.Is(serr, ErrNotRunning) {
		return fmt.Errorf("interrupted (%v), and stopping what the launch started failed: %w", context.Cause(parent), serr)
	}
	return fmt.Errorf("interrupted: stopped what the launch had started and undid its host changes (%v)", context.Cause(parent))
}

func upstreamLaunch(ctx context.Context, plan *adapters.Plan, o Options) (*Result, error) {
	ctx, cancel, res, t := begin(ctx, adapters.EngineKubernetes, plan, o)
	defer cancel()
	r := &phaseContext{plan: plan, o: o, res: res, t: t}
	return runPhases(ctx, r, upstreamPhases(r))
}

func closeLock(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// finish writes the user's kubeconfig and marks the launch ready.
func finish(res *Result, adminKubeconfig string) (*Result, error) {
	res.Shims = append(res.Shims, nsShimOutcomes(res.DataDir)...)
	res.Kubeconfig = launchhost.KubeconfigPath(res.DataDir)
	data, err := os.ReadFile(adminKubeconfig)
	if err == nil {
		err = writeAtomic(res.Kubeconfig, data, 0o600)
	}
	if err != nil {
		return res, err
	}
	res.Ready = true
	return res, nil
}

// importImages imports the archives as soon as containerd answers.
func importImages(ctx context.Context, t *tracker, failed *failure, ctr, socket string, archives []string, done chan<- error) {
	end := t.begin("images", "import pause and busybox into containerd")
	err := waitFor(ctx, failed, func() error {
		c, e := net.Dial("unix", socket)
		if e == nil {
			c.Close()
		}
		return e
	})
	for _, a := range archives {
		if err == nil {
			err = images.Import(ctx, ctr, socket, "k8s.io", a)
		}
	}
	// ctr prints containerd's unpack error: a known one is a signature.
	if err != nil {
		if h := signatures.Match("containerd", err.Error()); h != nil {
			if d := diagnosis(*h); d != nil {
				err = d
			}
		}
	}
	end(err)
	done <- err
}

// preflightDetail says what the preflight looks for at the plan's rung.
func preflightDetail(agent, processPods bool) string {
	switch {
	case agent:
		return "binaries, images, ports, data dir"
	case processPods:
		return "control plane binaries, kprobe-node-agent, images, ports, data dir"
	}
	return "control plane binaries, ports, data dir"
}

// processPodsPreflight checks what the node agent needs at TP: its
// executable, and one node (worker nodes are T0-T2's).
func processPodsPreflight(o Options) error {
	var problems []string
	if o.NodeAgent == "" {
		problems = append(problems, "process pods (TP) run "+NodeAgentName+", which is neither next to the kprobe executable nor on PATH (make build puts it next to bin/kprobe)")
	} else if fi, err := os.Stat(o.NodeAgent); err != nil || fi.IsDir() {
		problems = append(problems, fmt.Sprintf("process pods (TP) run the node agent %s, which is not a file: %v", o.NodeAgent, err))
	}
	if o.Nodes > 1 {
		problems = append(problems, fmt.Sprintf("--nodes %d: process pods (TP) run one node; drop --nodes, or add --process-pods=false for a control plane only", o.Nodes))
	}
	if len(problems) > 0 {
		return &PreflightError{Problems: problems}
	}
	return nil
}

// leftRunning adds what to do next to a readiness failure.
func leftRunning(err error, dataDir string) error {
	if st, serr := supervise.ReadState(dataDir); serr == nil && !st.Alive() {
		return fmt.Errorf("%w\nthe supervisor stopped every process; `kprobe logs --data-dir %s` shows why, `kprobe stop --data-dir %s` undoes the host changes",
			err, dataDir, dataDir)
	}
	return fmt.Errorf("%w\nthe cluster's processes are still running: see `kprobe status --data-dir %s` and `kprobe logs --data-dir %s`, then `kprobe stop --data-dir %s`",
		err, dataDir, dataDir, dataDir)
}

// SaveResult writes run/launch.json (the last attempt) and
// run/attempts.json (every attempt of the ladder, with the line that
// ended it).
func SaveResult(r *Result, attempts []Attempt) error {
	if err := os.MkdirAll(filepath.Dir(resultPath(r.DataDir)), 0o755); err != nil {
		return err
	}
	if err := writeJSON(resultPath(r.DataDir), r); err != nil {
		return err
	}
	return writeJSON(filepath.Join(r.DataDir, "run", "attempts.json"), attempts)
}

func prepare(ctx context.Context, plan *adapters.Plan, o Options, bins upstream.Binaries, nodeName string) (*upstream.Rendered, error) {
	snap, err := hoststate.Take(ctx)
	if err != nil {
		return nil, err
	}
	if err := snap.LoopbackUp(ctx); err != nil {
		return nil, err
	}
	nodeIP := launchhost.NodeIP()
	if nodeIP == "127.0.0.1" {
		// A network namespace with loopback only (a fresh netns, a
		// sandbox): the API server refuses a loopback advertise address.
		// The snapshot predates the link, so stop deletes it.
		_, err := hoststate.EnsureAddress(ctx)
		nodeIP = launchhost.NodeIP()
		switch {
		case err == nil:
		case snap.AddressOnLoopback(ctx) == nil:
			// No link can be made (gVisor), but lo takes an address.
			nodeIP = hoststate.StandInAddress
		default:
			// The API server can advertise loopback once its endpoint
			// reconciler is off: a control plane needs nothing more.
			// The kubelet refuses a loopback node IP.
			plan.Settings = append(plan.Settings, loopbackOnly)
			if plan.Worker() {
				plan.Notes = append(plan.Notes, "no address but loopback and none can be added ("+err.Error()+"): the kubelet will refuse a loopback node IP")
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(o.DataDir, "run"), 0o755); err != nil {
		return nil, err
	}
	if err := snap.Save(snapshotPath(o.DataDir)); err != nil {
		return nil, err
	}
	if err := makeNestedCgroupRoot(plan, snap, o.DataDir); err != nil {
		return nil, err
	}
	if err := loadModules(plan, snap, o.DataDir); err != nil {
		return nil, err
	}
	protect, err := applyKernelTunables(plan, snap, o.DataDir)
	if err != nil {
		return nil, err
	}
	if hasShim(plan, "runtime-wrapper") {
		w, err := writeRuntimeWrapper(o, bins.Runc)
		if err != nil {
			return nil, err
		}
		bins.Runc = w
	}
	bind, why, err := launchhost.APIBindAddress(o.BindAddress, o.Nodes, plan, nodeIP)
	if err != nil {
		return nil, err
	}
	plan.Notes = append(plan.Notes, why)
	sans := nodesSANs(o)
	if ip := net.ParseIP(bind); !ip.IsUnspecified() {
		sans = append(sans, bind)
	}
	var serviceCIDR string
	if plan.ProcessPods() {
		serviceCIDR = upstream.ProcessPodsServiceCIDR
	}
	bundle, err := pki.Ensure(filepath.Join(o.DataDir, "pki"), pki.Options{NodeName: nodeName, NodeIP: net.ParseIP(nodeIP), ExtraSANs: sans, ServiceCIDR: serviceCIDR})
	if err != nil {
		return nil, err
	}
	kcs, err := bundle.WriteKubeconfigs(filepath.Join(o.DataDir, "kubeconfigs"), "https://"+net.JoinHostPort(upstream.APIHost(bind), fmt.Sprint(6443+o.PortOffset)))
	if err != nil {
		return nil, err
	}
	r, err := upstream.Render(plan, upstream.Config{
		DataDir: o.DataDir, Bin: bins, NodeName: nodeName, NodeIP: nodeIP, BindAddress: bind, ProtectKernelDefaults: protect,
		NodeAgent: o.NodeAgent, ImagesDir: o.ImagesDir, ServiceCIDR: serviceCIDR, PortOffset: o.PortOffset, ClusterDNS: upstream.ClusterDNSFor(plan.ProcessPods()),
		Certs: upstream.Certs{
			CA: bundle.CA.Cert, CAKey: bundle.CA.Key,
			APIServerCert: bundle.APIServer.Cert, APIServerKey: bundle.APIServer.Key,
			KubeletClientCert: bundle.APIServerKubeletClient.Cert, KubeletClientKey: bundle.APIServerKubeletClient.Key,
			KubeletServingCert: bundle.KubeletServing.Cert, KubeletServingKey: bundle.KubeletServing.Key,
			SAPub: bundle.ServiceAccountPub, SAKey: bundle.ServiceAccountKey,
			EtcdCA:         bundle.EtcdCA.Cert,
			EtcdServerCert: bundle.EtcdServer.Cert, EtcdServerKey: bundle.EtcdServer.Key,
			EtcdPeerCert: bundle.EtcdPeer.Cert, EtcdPeerKey: bundle.EtcdPeer.Key,
			APIServerEtcdClientCert: bundle.APIServerEtcdClient.Cert, APIServerEtcdClientKey: bundle.APIServerEtcdClient.Key,
			AdminKubeconfig: kcs.Admin, ControllerManagerKubeconfig: kcs.ControllerManager,
			SchedulerKubeconfig: kcs.Scheduler, KubeletKubeconfig: kcs.Kubelet, KubeProxyKubeconfig: kcs.KubeProxy,
		},
	})
	if err != nil {
		return nil, err
	}
	for path, content := range r.Files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := writeAtomic(path, []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	if runsKubeProxy(r.Processes) {
		guardKubeProxyMetrics(ctx, plan)
	}
	for _, d := range []string{"logs/pods", "kubelet/root", "kubelet/pki", "kubelet/volume-plugins", "cni/ipam", "containerd"} {
		if err := os.MkdirAll(filepath.Join(o.DataDir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(r.Socket), 0o755); err != nil {
		return nil, err
	}
	if err := prepareWorkers(ctx, plan, o, upstream.Config{DataDir: o.DataDir, Bin: bins, NodeIP: nodeIP}, bundle, r); err != nil {
		return nil, err
	}
	_, ns := splitShims(plan)
	if o.SimulateNodes > 0 {
		k, err := FindKwok(o.BinDir)
		if err != nil {
			return nil, err
		}
		r.Processes = append(r.Processes, kwokProcess(o.DataDir, k, kcs.Admin))
	}
	if env := noProxyEnv(os.Getenv, clusterAddresses(nodeIP, bind, serviceCIDR)...); env != nil {
		for i := range r.Processes {
			r.Processes[i].Env = append(r.Processes[i].Env, env...)
		}
		// kprobe's own clients, and the kubectl and helm it runs, too.
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			os.Setenv(k, v)
		}
	}
	if err := supervise.WriteSpec(&supervise.Spec{Engine: adapters.EngineKubernetes, DataDir: o.DataDir, Processes: r.Processes, Shims: ns, ReadyBy: readyBy(ctx)}); err != nil {
		return nil, err
	}
	return r, nil
}

// applyKernelTunables sets the kubelet's kernel tunables through the host
// journal (stop restores them) before any kubelet starts, and says
// whether the kubelet can be told to only check them. A control plane
// without a kubelet changes none.
func applyKernelTunables(plan *adapters.Plan, snap *hoststate.Snapshot, dataDir string) (bool, error) {
	if !plan.Worker() {
		return false, nil
	}
	all, notes, err := snap.ApplyKubeletSysctls(func() error { return snap.Save(snapshotPath(dataDir)) })
	plan.Notes = append(plan.Notes, notes...)
	return all, err
}

// loadModules loads the kernel modules the plan names (br_netfilter where
// the kernel has it as a module nothing loaded) through the host journal,
// so that stop unloads them. A module that cannot be loaded is a note,
// not a failure: the cluster runs, and the plan's note says which verify
// checks then fail. Only a journal that cannot be written stops launch.
func loadModules(plan *adapters.Plan, snap *hoststate.Snapshot, dataDir string) error {
	for _, m := range plan.Modules {
		// A module loaded since the scan: LoadModule does nothing.
		loaded, note, err := snap.LoadModule(m, func() error { return snap.Save(snapshotPath(dataDir)) })
		switch {
		case err != nil:
			return err
		case !loaded && note != "":
			plan.Notes = append(plan.Notes, fmt.Sprintf("the kernel module %s was not loaded (%s): verify's service, dns and replicas checks are expected to fail", m, note))
		case note != "":
			plan.Notes = append(plan.Notes, note)
		}
	}
	return nil
}

// loopbackOnly is the setting a control plane gets in a network namespace
// where no address but loopback can be had (gVisor with --network=none and
// no CAP_NET_ADMIN).
var loopbackOnly = adapters.Setting{
	Component: adapters.KubeAPIServer, Name: "endpoint-reconciler-type", Value: "none",
	Reason:    "R-LOOPBACK-ONLY",
	Rationale: "no address but loopback and no way to add one: the API server refuses to advertise 127.0.0.1 for the kubernetes Service unless its endpoint reconciler is off (no pod can reach it anyway)",
	Source:    "kubernetes pkg/controlplane/instance.go (ValidateIP); research/gvisor.md",
}

// watchLogs forwards the first signature the watcher reports.
func watchLogs(ctx context.Context, o Options, failed *failure) {
	if o.Watch == nil {
		return
	}
	hits := o.Watch(ctx, filepath.Join(o.DataDir, "logs"))
	go func() {
		select {
		case err, ok := <-hits:
			if ok && err != nil {
				failed.set(err)
			}
		case <-ctx.Done():
		}
	}()
}

func hasShim(plan *adapters.Plan, name string) bool {
	for _, s := range plan.Shims {
		if s.Name == name {
			return true
		}
	}
	return false
}

// writeRuntimeWrapper writes the script containerd runs instead of runc:
// kprobe's runtime-wrapper rewrites each container's spec (adapters/shims)
// and execs the real runc. It lives in the data dir, so stop --purge
// removes it.
func writeRuntimeWrapper(o Options, runc string) (string, error) {
	path := filepath.Join(o.DataDir, "bin", "runc-wrapper")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	script := fmt.Sprintf("#!/bin/sh\n# Written by kprobe launch (the runtime-wrapper shim).\nexec %q runtime-wrapper --runtime %q --log %q -- \"$@\"\n",
		o.Self, runc, filepath.Join(o.DataDir, "logs", "runtime-wrapper.log"))
	return path, writeAtomic(path, []byte(script), 0o755)
}

// watchSupervisor reports the first failed process (or a dead supervisor)
// on failed. It reads only the state of the supervisor with pid: the
// state file of a previous attempt of the ladder (whose processes exited)
// stays until the new supervisor writes its own. A process the supervisor
// started again after it exited before it was ever ready
// (Process.RestartsBeforeReady) is not a failure; each such restart is
// recorded as a phase "NAME restart N" with the exit.
func watchSupervisor(ctx context.Context, t *tracker, dataDir string, pid int, failed *failure) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	seen := false
	restarts := map[string]int{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err := supervise.ReadState(dataDir)
		if err != nil || (pid > 0 && st.SupervisorPID != pid) {
			continue
		}
		seen = true
		for _, p := range st.Processes {
			if p.Status == supervise.Failed || p.Status == supervise.Exited {
				failed.set(fmt.Errorf("%s exited (code %d) while the cluster started%s", p.Name, p.ExitCode, logTail(p.Log, 8)))
				return
			}
			if p.ReadyAt.IsZero() && p.Restarts > restarts[p.Name] {
				restarts[p.Name] = p.Restarts
				t.begin(fmt.Sprintf("%s restart %d", p.Name, p.Restarts),
					fmt.Sprintf("%s %s; the supervisor started it again (pid %d)", p.Name, p.LastExit, p.PID))(nil)
			}
		}
		if p := st.Process(st.Cause); p != nil {
			failed.set(fmt.Errorf("%s failed while the cluster started (%s)%s", p.Name, p.Error, logTail(p.Log, 8)))
			return
		}
		if st.Phase == "failed" || (seen && !st.Alive()) {
			failed.set(fmt.Errorf("the supervisor stopped (phase %s)%s", st.Phase, logTail(filepath.Join(dataDir, "logs", "supervisor.log"), 8)))
			return
		}
	}
}

// failure is the first reason a launch cannot become ready, seen by
// every phase that waits: a channel read by one waiter would leave the
// others waiting the whole --wait.
type failure struct {
	once sync.Once
	done chan struct{}
	err  error
}

func newFailure() *failure { return &failure{done: make(chan struct{})} }

// set records err unless a failure is recorded already.
func (f *failure) set(err error) {
	f.once.Do(func() { f.err = err; close(f.done) })
}

// waitFor polls check until it succeeds, the supervisor reports a
// failure, or ctx ends (then the last error says what it waited for).
// A nil failed waits on check and ctx alone (the worker nodes' waits).
func waitFor(ctx context.Context, failed *failure, check func() error) error {
	var done <-chan struct{}
	if failed != nil {
		done = failed.done
	}
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-done:
			return failed.err
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting (%v): %w", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail returns the last n lines of a log that say something, indented,
// for error messages: a Go program's goroutine dump (etcd panics with
// one) is left out, its "panic:" line kept. At most the last 64 KiB are
// read.
func logTail(path string, n int) string {
	lines := causeLines(path, n)
	if len(lines) == 0 {
		return ""
	}
	return "; last lines of " + path + ":\n    " + strings.Join(lines, "\n    ")
}

func causeLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const window = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		_, _ = f.Seek(fi.Size()-window, io.SeekStart)
	}
	data, _ := io.ReadAll(io.LimitReader(f, window))
	var keep []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == "" || stackFrame(l) {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return keep
}

// stackFrame matches the lines of a Go goroutine dump: the goroutine
// header, "pkg.func(args)" lines, their indented file:line lines and
// "created by".
func stackFrame(l string) bool {
	switch {
	case strings.HasPrefix(l, "\t"), strings.HasPrefix(l, "goroutine "), strings.HasPrefix(l, "created by "):
		return true
	case !strings.Contains(l, " ") && strings.HasSuffix(l, ")") && strings.Contains(l, "("):
		return true
	}
	return false
}
