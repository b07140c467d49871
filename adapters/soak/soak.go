package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/launch"
	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// Namespace the workload runs in by default; it is deleted at the end.
const Namespace = "kprobe-soak"

// Options of a soak.
type Options struct {
	DataDir    string
	Kubeconfig string // default: the data dir's
	Duration   time.Duration
	Interval   time.Duration // default 5 s
	Namespace  string
	// Requests is how many requests the client pod sends to the Service
	// per interval (default 5).
	Requests int
	// Progress receives a line per sample (per minute on soaks longer
	// than ten minutes) and a line per failure; nil for none.
	Progress io.Writer
}

// ErrNotRunning: there is no live cluster in the data dir.
var ErrNotRunning = supervise.ErrNotRunning

// Limits of the workload's steps: a step that takes longer failed.
const (
	stepTimeout    = 90 * time.Second
	setupTimeout   = 3 * time.Minute
	cleanupTimeout = 3 * time.Minute
	settleTimeout  = 60 * time.Second
	// A line of the per-second log that arrives later than this after the
	// runtime wrote it is a failed probe.
	maxLogLag = 10 * time.Second
	maxEvents = 1000
)

// soaker is one soak in progress.
type soaker struct {
	o       Options
	cs      *kubernetes.Clientset // requests, 10 s timeout
	streams *kubernetes.Clientset // log streams, no timeout
	res     *Result
	ours    func(addr string) bool // a shim of this cluster
	base    map[string]int         // restarts when the soak started

	mu       sync.Mutex
	t0       time.Time // sampling started; events before it are setup
	cur      Sample    // this interval's counters
	uids     map[string]bool
	restarts map[string]int32 // container restarts per soak pod UID
	// seenRestarts are the component restarts already reported.
	seenRestarts map[string]int
	aborted      string

	// What the workload has: set by prepare.
	workload bool
	storage  bool
	target   string // the load's target: web, or the Service's IP
}

// Run soaks the cluster of o.DataDir. It returns ErrNotRunning (wrapped)
// when no cluster runs there; every other problem is in the result.
// Cancelling ctx ends the soak early; the namespace is deleted anyway.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Namespace == "" {
		o.Namespace = Namespace
	}
	if o.Requests <= 0 {
		o.Requests = 5
	}
	if o.Kubeconfig == "" {
		o.Kubeconfig = launchhost.KubeconfigPath(o.DataDir)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	st, err := supervise.Live(o.DataDir)
	if err != nil {
		if errors.Is(err, ErrNotRunning) {
			return nil, fmt.Errorf("%w (%s): launch one first with kprobe launch, or pass --data-dir", ErrNotRunning, o.DataDir)
		}
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", o.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 20, 40
	scfg := *cfg
	cfg.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	streams, err := kubernetes.NewForConfig(&scfg)
	if err != nil {
		return nil, err
	}
	res := &Result{
		APIVersion: APIVersion, Kind: Kind, Engine: st.Engine, DataDir: o.DataDir, Namespace: o.Namespace,
		DurationS: o.Duration.Seconds(), IntervalS: o.Interval.Seconds(), StartedAt: time.Now().UTC(),
	}
	if lr, err := launch.LoadResult(o.DataDir); err == nil {
		res.Rung = lr.Rung
	}
	s := &soaker{o: o, cs: cs, streams: streams, res: res, base: map[string]int{},
		uids: map[string]bool{}, restarts: map[string]int32{}, seenRestarts: map[string]int{}, t0: time.Now()}
	for _, p := range st.Processes {
		s.base[p.Name] = p.Restarts
	}
	s.ours = shimFilter(st.Engine, o.DataDir)

	s.say("soak: %s on the %s engine from %s, a sample every %s", o.Duration, st.Engine, o.DataDir, o.Interval)
	sctx, scancel := context.WithTimeout(ctx, setupTimeout)
	if err := s.prepare(sctx); err != nil {
		if ctx.Err() == nil {
			s.fail("setup", "%v", err)
			s.aborted = "the workload did not start: " + err.Error()
		}
	}
	scancel()
	if ctx.Err() == nil && s.aborted == "" {
		s.soak(ctx)
	}
	res.Interrupted = ctx.Err() != nil
	res.Aborted = s.aborted
	res.EndedAt = time.Now().UTC()
	cctx, ccancel := context.WithTimeout(context.Background(), cleanupTimeout)
	s.cleanup(cctx)
	ccancel()
	s.finish()
	Judge(res)
	return res, nil
}

// shimFilter accepts the shims of this cluster's containerd(s): the
// kubernetes engine's socket is under the data dir (or /run/kprobe-HASH
// for a long path), k3s's under /run/k3s.
func shimFilter(engine, dataDir string) func(string) bool {
	sock := upstream.ContainerdSocket(dataDir)
	return func(addr string) bool {
		if engine == adapters.EngineK3s {
			return strings.HasPrefix(addr, "/run/k3s/")
		}
		return addr == sock || strings.HasPrefix(addr, dataDir+"/")
	}
}

// soak runs the workload's loops and samples until the duration is over,
// ctx is cancelled or the cluster goes away.
func (s *soaker) soak(ctx context.Context) {
	s.mu.Lock()
	s.t0 = time.Now()
	s.mu.Unlock()
	base := s.sample(ctx)
	s.res.Baseline = &base
	rctx, cancel := context.WithTimeout(ctx, s.o.Duration)
	defer cancel()
	var wg sync.WaitGroup
	if s.workload {
		for _, loop := range []func(context.Context){s.scaleLoop, s.followLogger, s.followLoad} {
			wg.Add(1)
			go func() { defer wg.Done(); loop(rctx) }()
		}
		if s.storage {
			wg.Add(1)
			go func() { defer wg.Done(); s.writeLoop(rctx) }()
		}
	}
	every := s.o.Interval
	if s.o.Duration > 10*time.Minute {
		every = max(every, time.Minute)
	}
	lastSaid := time.Time{}
	tick := time.NewTicker(s.o.Interval)
	defer tick.Stop()
	for {
		final := false
		select {
		case <-rctx.Done():
			// The end of the duration gets a last sample; an interrupt not.
			final = true
		case <-tick.C:
		}
		if ctx.Err() != nil {
			break
		}
		if final && len(s.res.Samples) > 0 && time.Since(s.res.Samples[len(s.res.Samples)-1].At) < s.o.Interval/2 {
			break // the ticker just sampled the end
		}
		x := s.sample(ctx)
		s.res.Samples = append(s.res.Samples, x)
		if time.Since(lastSaid) >= every-time.Second/2 || final {
			s.say("%s", progressLine(x, s.o.Duration))
			lastSaid = time.Now()
		}
		if final || s.abortedNow() != "" {
			break
		}
	}
	cancel()
	wg.Wait()
	s.res.ElapsedS = round1(time.Since(s.t0).Seconds())
}

func (s *soaker) abortedNow() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// sample measures one interval.
func (s *soaker) sample(ctx context.Context) Sample {
	now := time.Now()
	s.mu.Lock()
	x := s.cur
	s.cur = Sample{}
	t0 := s.t0
	s.mu.Unlock()
	x.T, x.At = round1(now.Sub(t0).Seconds()), now.UTC().Truncate(time.Millisecond)
	x.APIMS, x.RSSKiB, x.Restarts = map[string]float64{}, map[string]int64{}, map[string]int{}

	st, err := supervise.ReadState(s.o.DataDir)
	switch {
	case err != nil:
		s.fail("components", "read the supervisor's state: %v", err)
	case !st.Alive():
		s.abort(fmt.Sprintf("the supervisor (pid %d) is gone: the cluster stopped", st.SupervisorPID))
	default:
		for _, p := range st.Processes {
			if d := p.Restarts - s.base[p.Name]; d > 0 {
				x.Restarts[p.Name] = d
				if d > s.seenRestarts[p.Name] {
					s.event(EventRestart, "components", "%s restarted (%d so far): %s", p.Name, d, p.Error)
					s.seenRestarts[p.Name] = d
				}
			}
			if p.Status != supervise.Running || !supervise.SameProcess(p.PID, p.StartTick) {
				x.NotRunning = append(x.NotRunning, p.Name)
				continue
			}
			if kib, ok := readRSS(p.PID); ok {
				x.RSSKiB[p.Name] = kib
			}
		}
		if kib, ok := readRSS(st.SupervisorPID); ok {
			x.RSSKiB["supervisor"] = kib
		}
	}
	if len(x.Restarts) == 0 {
		x.Restarts = nil
	}

	timed := func(name string, f func(context.Context) error) bool {
		start := time.Now()
		err := f(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.fail("api", "%s: %v", name, err)
			}
			return false
		}
		x.APIMS[name] = round1(float64(time.Since(start).Microseconds()) / 1000)
		return true
	}
	timed("readyz", func(ctx context.Context) error {
		body, err := s.cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) != "ok" {
			err = fmt.Errorf("%s", body)
		}
		return err
	})
	var nodes *corev1.NodeList
	timed("list-nodes", func(ctx context.Context) (err error) {
		nodes, err = s.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err
	})
	var pods *corev1.PodList
	timed("list-pods", func(ctx context.Context) (err error) {
		pods, err = s.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		return err
	})
	if s.workload {
		timed("get-deployment", func(ctx context.Context) error {
			d, err := s.cs.AppsV1().Deployments(s.o.Namespace).Get(ctx, "scaler", metav1.GetOptions{})
			if err == nil {
				x.Replicas = int(d.Status.ReadyReplicas)
			}
			return err
		})
	}
	if nodes != nil && pods != nil {
		x.Pods = s.countPods(nodes, pods)
	}
	scan := scanProcs(s.ours, nil)
	x.Shims, x.ShimsRSSKiB = scan.Shims, scan.ShimsRSS
	s.mu.Lock()
	for _, n := range s.restarts {
		x.PodRestarts += int(n)
	}
	s.mu.Unlock()
	return x
}

// countPods counts the pods that have a sandbox on a real node, and
// records the soak's pods and their container restarts.
func (s *soaker) countPods(nodes *corev1.NodeList, pods *corev1.PodList) int {
	real := map[string]bool{}
	for _, n := range nodes.Items {
		if _, simulated := n.Annotations["kwok.x-k8s.io/node"]; !simulated {
			real[n.Name] = true
		}
	}
	count := 0
	var restarted []string
	s.mu.Lock()
	for _, p := range pods.Items {
		if p.Namespace == s.o.Namespace {
			uid := string(p.UID)
			s.uids[uid] = true
			var r int32
			var why []string
			for _, c := range p.Status.ContainerStatuses {
				r += c.RestartCount
				if t := c.LastTerminationState.Terminated; t != nil {
					why = append(why, fmt.Sprintf("%s: %s, exit code %d, signal %d, at %s", c.Name, t.Reason, t.ExitCode, t.Signal, t.FinishedAt.UTC().Format(time.RFC3339)))
				}
			}
			if r > s.restarts[uid] {
				restarted = append(restarted, fmt.Sprintf("pod %s: %d container restarts (last: %s)", p.Name, r, strings.Join(why, "; ")))
				s.restarts[uid] = r
			}
		}
		if real[p.Spec.NodeName] && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			count++
		}
	}
	s.mu.Unlock()
	for _, r := range restarted {
		s.event(EventRestart, "pods", "%s", r)
	}
	return count
}

// fail records a failed probe.
func (s *soaker) fail(part, format string, a ...any) { s.event(EventFailedProbe, part, format, a...) }

// leak records leaked processes.
func (s *soaker) leak(part, format string, a ...any) { s.event(EventLeak, part, format, a...) }

func (s *soaker) event(kind, part, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	s.mu.Lock()
	if kind == EventFailedProbe {
		s.cur.FailedProbes++
	}
	// Restarts are judged from the counts; their events say why.
	if len(s.res.Events) < maxEvents {
		s.res.Events = append(s.res.Events, Event{T: round1(time.Since(s.t0).Seconds()), Kind: kind, Part: part, Message: msg})
	} else {
		s.res.EventsDropped++
	}
	s.mu.Unlock()
	s.say("soak: %s (%s): %s", kind, part, msg)
}

func (s *soaker) abort(why string) {
	s.mu.Lock()
	first := s.aborted == ""
	if first {
		s.aborted = why
	}
	s.mu.Unlock()
	if first {
		s.say("soak: stopping early: %s", why)
	}
}

// count adds to this interval's counters.
func (s *soaker) count(f func(*Sample)) {
	s.mu.Lock()
	f(&s.cur)
	s.mu.Unlock()
}

func (s *soaker) say(format string, a ...any) {
	fmt.Fprintf(s.o.Progress, format+"\n", a...)
}

// finish orders what the loops recorded.
func (s *soaker) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res.ElapsedS == 0 && len(s.res.Samples) > 0 {
		s.res.ElapsedS = s.res.Samples[len(s.res.Samples)-1].T
	}
}

// progressLine is the one-line view of a sample.
func progressLine(x Sample, d time.Duration) string {
	restarts := 0
	for _, n := range x.Restarts {
		restarts += n
	}
	var maxAPI float64
	for _, v := range x.APIMS {
		maxAPI = max(maxAPI, v)
	}
	// "apiserver" is kube-control-plane's whole process where the three
	// control-plane components run in one (upstream.ControlPlaneProcessName),
	// with node 0's kubelet and kube-proxy where it runs them too.
	line := fmt.Sprintf("soak %s/%s  restarts %d  failed %d  api max %.0fms  apiserver %.0fMiB  pods %d shims %d",
		time.Duration(x.T*float64(time.Second)).Round(time.Second), d, restarts+x.PodRestarts, x.FailedProbes,
		maxAPI, float64(x.RSSKiB["kube-apiserver"]+x.RSSKiB[upstream.ControlPlaneProcessName])/1024, x.Pods, x.Shims)
	if x.Replicas > 0 || x.LogLines > 0 {
		line += fmt.Sprintf("  replicas %d  log lines %d (lag %.0fms)  requests %d/%d ok  writes %d",
			x.Replicas, x.LogLines, x.LogLagMS, x.Requests-x.RequestsFailed, x.Requests, x.Writes)
	}
	if len(x.NotRunning) > 0 {
		line += "  NOT RUNNING: " + strings.Join(x.NotRunning, ",")
	}
	return line
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// poll calls f every 500 ms until it returns true, an error, or timeout.
func poll(ctx context.Context, timeout time.Duration, f func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := f(ctx)
		if ok && err == nil {
			return nil
		}
		if err != nil {
			last = err
		}
		if !sleep(ctx, 500*time.Millisecond) {
			if last != nil {
				return fmt.Errorf("not done after %s: %w", timeout, last)
			}
			return fmt.Errorf("not done after %s", timeout)
		}
	}
}

func notFound(err error) bool { return apierrors.IsNotFound(err) }
