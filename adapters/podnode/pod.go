package podnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kprobe/kprobe/adapters/imagestore"
)

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// podRun runs one pod: its volumes, init containers in order, then its
// containers, each restarted per the pod's restartPolicy with back-off.
type podRun struct {
	prov *provider
	dir  string

	mu        sync.Mutex
	pod       *corev1.Pod
	started   metav1.Time
	volsReady bool
	initDone  bool
	failure   string // reason of a pod that cannot run here (phase Failed)
	failMsg   string
	inits     []*ctr
	ctrs      []*ctr
	vols      *podVolumes
	condTimes map[string]metav1.Time

	ctx    context.Context
	cancel context.CancelFunc
	grace  time.Duration // set by delete
	done   chan struct{}
	hurry  chan struct{} // closed when the agent stops: cut every grace period short
	once   sync.Once
}

func newPodRun(p *provider, pod *corev1.Pod) *podRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &podRun{
		prov:      p,
		pod:       pod,
		dir:       filepath.Join(p.cfg.dataDir, "pods", string(pod.UID)),
		started:   metav1.Now(),
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		hurry:     make(chan struct{}),
		grace:     -1,
		condTimes: map[string]metav1.Time{},
	}
	logDir := filepath.Join(p.cfg.dataDir, "logs", "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
	for i, c := range pod.Spec.InitContainers {
		r.inits = append(r.inits, newCtr(r, c, true, i, logDir))
	}
	for i, c := range pod.Spec.Containers {
		r.ctrs = append(r.ctrs, newCtr(r, c, false, i, logDir))
	}
	return r
}

func (r *podRun) uid() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.pod.UID)
}

func (r *podRun) update(pod *corev1.Pod) {
	r.mu.Lock()
	r.pod.Labels, r.pod.Annotations = pod.Labels, pod.Annotations
	r.mu.Unlock()
	r.changed()
}

// delete stops the pod with grace seconds (-1: the pod's own period).
func (r *podRun) delete(grace int64) {
	r.mu.Lock()
	if grace < 0 {
		grace = 30
		if g := r.pod.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
	}
	if r.grace < 0 || time.Duration(grace)*time.Second < r.grace {
		r.grace = time.Duration(grace) * time.Second
	}
	r.mu.Unlock()
	r.cancel()
}

// stop is delete for the agent's own shutdown: no grace, also for
// containers already waiting out a deletion's grace period.
func (r *podRun) stop() {
	r.mu.Lock()
	r.grace = 0
	r.mu.Unlock()
	r.once.Do(func() { close(r.hurry) })
	r.cancel()
}

func (r *podRun) graceful() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.grace < 0 {
		return 30 * time.Second
	}
	return r.grace
}

func (r *podRun) container(name string) *ctr {
	for _, c := range append(append([]*ctr{}, r.inits...), r.ctrs...) {
		if c.spec.Name == name {
			return c
		}
	}
	return nil
}

func (r *podRun) event(kind, reason, format string, a ...any) {
	r.mu.Lock()
	pod := r.pod.DeepCopy()
	r.mu.Unlock()
	r.prov.recorder.Eventf(pod, kind, reason, format, a...)
}

// changed sends the current status to the API server.
func (r *podRun) changed() { r.prov.notifyPod(r.snapshot()) }

// run is the pod's whole life; it returns when every process has stopped
// and the pod's files are removed.
func (r *podRun) run() {
	defer close(r.done)
	defer r.cleanup()
	r.changed()
	if reason, msg := unsupported(r.pod, r.prov.cfg.isolation); reason != "" {
		r.event(corev1.EventTypeWarning, reason, "%s", msg)
		r.fail(reason, msg)
		return
	}
	r.checkPorts()
	if r.prov.cfg.isolation == IsolationNone {
		r.event(corev1.EventTypeWarning, "NoRootChange", "isolation none: containers run with the sandbox's files as /; only static binaries work and volumes are not at their mount paths")
	}
	if !r.prepareVolumes() {
		return
	}
	for _, c := range append(append([]*ctr{}, r.inits...), r.ctrs...) {
		if !c.prepare() {
			return
		}
	}
	for _, c := range r.inits {
		if !c.runInit() {
			r.markInitFailure()
			return
		}
	}
	r.mu.Lock()
	r.initDone = true
	r.mu.Unlock()
	r.changed()
	var wg sync.WaitGroup
	for _, c := range r.ctrs {
		wg.Add(1)
		go func() { defer wg.Done(); c.loop() }()
		go c.probe()
	}
	wg.Wait()
	r.changed()
	// A finished pod (Succeeded/Failed) keeps its logs until it is deleted.
	<-r.ctx.Done()
}

func (r *podRun) fail(reason, msg string) {
	r.mu.Lock()
	r.failure, r.failMsg = reason, msg
	r.mu.Unlock()
	r.changed()
	<-r.ctx.Done()
}

// markInitFailure leaves a pod whose init container failed for good (or
// was stopped) until it is deleted.
func (r *podRun) markInitFailure() {
	r.changed()
	<-r.ctx.Done()
}

func (r *podRun) prepareVolumes() bool {
	delay := time.Second
	for {
		vols, err := materialize(r.ctx, r)
		if err == nil {
			r.mu.Lock()
			r.vols, r.volsReady = vols, true
			r.mu.Unlock()
			r.changed()
			go r.refreshVolumes()
			return true
		}
		r.event(corev1.EventTypeWarning, "FailedMount", "%v", err)
		select {
		case <-r.ctx.Done():
			return false
		case <-time.After(delay):
		}
		delay = mountRetryDelay(delay, err)
	}
}

// mountRetryDelay doubles the wait before the next try, up to a minute,
// but only up to 5 s while the API answers Forbidden or NotFound: the Node
// authorizer refuses a claim until its graph has the new pod, which under
// load took longer than the doubling allowed (a recreated pod waited past
// 90 s in research/stability.md's one-hour soak at TP).
func mountRetryDelay(delay time.Duration, err error) time.Duration {
	limit := time.Minute
	if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
		limit = 5 * time.Second
	}
	return min(2*delay, limit)
}

// refreshVolumes keeps configMap, secret, projected and downwardAPI
// volumes up to date, as the kubelet's periodic sync does.
func (r *podRun) refreshVolumes() {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			if err := r.vols.refresh(r.ctx, r); err != nil && r.ctx.Err() == nil {
				r.event(corev1.EventTypeWarning, "FailedMount", "refresh: %v", err)
			}
			for _, c := range r.ctrs {
				c.syncCopies()
			}
		}
	}
}

func (r *podRun) cleanup() {
	for _, c := range append(append([]*ctr{}, r.inits...), r.ctrs...) {
		c.release()
	}
	_ = os.RemoveAll(r.dir)
	r.prov.cfg.addrs.release(r.pod.UID)
}

// snapshot is the pod with its status as a kubelet would report it.
func (r *podRun) snapshot() *corev1.Pod {
	r.mu.Lock()
	pod := r.pod.DeepCopy()
	st := corev1.PodStatus{
		HostIP:    r.prov.cfg.nodeIP,
		HostIPs:   []corev1.HostIP{{IP: r.prov.cfg.nodeIP}},
		PodIP:     r.podIP(),
		PodIPs:    []corev1.PodIP{{IP: r.podIP()}},
		StartTime: &r.started,
		QOSClass:  qosClass(pod),
	}
	failure, failMsg, initDone, volsReady := r.failure, r.failMsg, r.initDone, r.volsReady
	r.mu.Unlock()

	for _, c := range r.inits {
		st.InitContainerStatuses = append(st.InitContainerStatuses, c.status())
	}
	for _, c := range r.ctrs {
		st.ContainerStatuses = append(st.ContainerStatuses, c.status())
	}
	st.Phase = phase(pod.Spec.RestartPolicy, initDone, st.InitContainerStatuses, st.ContainerStatuses)
	if failure != "" {
		st.Phase, st.Reason, st.Message = corev1.PodFailed, failure, failMsg
	}
	allReady := initDone && len(st.ContainerStatuses) > 0
	for _, cs := range st.ContainerStatuses {
		allReady = allReady && cs.Ready
	}
	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, LastTransitionTime: r.started}
		if ok {
			c.Status = corev1.ConditionTrue
		} else {
			c.Reason = reason
		}
		return c
	}
	notReady := "ContainersNotReady"
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		notReady = "PodCompleted"
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, volsReady, ""),
		cond(corev1.PodInitialized, initDone, "ContainersNotInitialized"),
		cond(corev1.ContainersReady, allReady, notReady),
		cond(corev1.PodReady, allReady, notReady),
		cond(corev1.PodScheduled, true, ""),
	}
	for i := range st.Conditions {
		st.Conditions[i].LastTransitionTime = r.transition(st.Conditions[i])
	}
	pod.Status = st
	return pod
}

// transition keeps a condition's LastTransitionTime until its status changes.
func (r *podRun) transition(c corev1.PodCondition) metav1.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := string(c.Type) + "=" + string(c.Status)
	t, ok := r.condTimes[k]
	if !ok {
		t = metav1.Now()
		r.condTimes[k] = t
	}
	return t
}

// phase is the kubelet's pod phase from the container states.
func phase(policy corev1.RestartPolicy, initDone bool, inits, ctrs []corev1.ContainerStatus) corev1.PodPhase {
	if !initDone {
		for _, s := range inits {
			if t := s.State.Terminated; t != nil && t.ExitCode != 0 && policy == corev1.RestartPolicyNever {
				return corev1.PodFailed
			}
		}
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, s := range ctrs {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil:
			if s.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		if policy == corev1.RestartPolicyAlways {
			return corev1.PodRunning
		}
		if succeeded == stopped {
			return corev1.PodSucceeded
		}
		if policy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// qosClass is the pod's QoS class from its requests and limits.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	any, guaranteed := false, true
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[res]
			lim, hasLim := c.Resources.Limits[res]
			if hasReq || hasLim {
				any = true
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// unsupported names what a pod asks that process pods cannot give.
func unsupported(pod *corev1.Pod, iso Isolation) (reason, msg string) {
	var what []string
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			what = append(what, fmt.Sprintf("container %q is privileged", c.Name))
		}
		for name := range c.Resources.Limits {
			if strings.Contains(string(name), "/") && !strings.HasPrefix(string(name), "hugepages-") {
				what = append(what, fmt.Sprintf("container %q needs device resource %s", c.Name, name))
			}
		}
		for _, d := range c.VolumeDevices {
			what = append(what, fmt.Sprintf("container %q needs block device %s", c.Name, d.Name))
		}
	}
	if pod.Spec.HostPID && iso == IsolationUserns {
		what = append(what, "hostPID: containers run in their own pid namespaces here")
	}
	for _, v := range pod.Spec.Volumes {
		if volumeKind(v) == "" {
			what = append(what, fmt.Sprintf("volume %q is of a kind process pods do not provide", v.Name))
		}
	}
	if len(what) == 0 {
		return "", ""
	}
	return "ProcessPodUnsupported", "process pods cannot run this pod: " + strings.Join(what, "; ")
}

// ctr is one container of a pod and its current run.
type ctr struct {
	r      *podRun
	spec   corev1.Container
	init   bool
	index  int
	dir    string // DATA/pods/<uid>/containers/<name>
	logDir string

	mu       sync.Mutex
	img      *imagestore.Image
	state    corev1.ContainerState
	last     corev1.ContainerState
	restarts int32
	ready    bool
	started  bool
	proc     *process
	exited   chan struct{}
	stdin    *os.File // write end of the container's stdin, when spec.Stdin
	tty      *os.File // pty master, when spec.TTY
	kill     chan struct{}
	back     backoff
	logIndex int // the newest run's log file, -1 before the first run
	lent     []lentVolume
}

func newCtr(r *podRun, spec corev1.Container, init bool, index int, logDir string) *ctr {
	return &ctr{
		r: r, spec: spec, init: init, index: index,
		dir:      filepath.Join(r.dir, "containers", spec.Name),
		logDir:   filepath.Join(logDir, spec.Name),
		state:    corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		kill:     make(chan struct{}, 1),
		logIndex: -1,
	}
	// init containers wait with "PodInitializing" in kubectl; the kubelet
	// reports them as ContainerCreating/PodInitializing alike.
}

func (c *ctr) root() string { return filepath.Join(c.dir, "rootfs") }

func (c *ctr) setWaiting(reason, msg string) {
	c.mu.Lock()
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	c.mu.Unlock()
	c.r.changed()
}

// prepare pulls the image and makes the container's root; image errors
// back off as ErrImagePull then ImagePullBackOff.
func (c *ctr) prepare() bool {
	var b backoff
	b.next = backoffInitial
	var secrets [][]byte
	for _, ref := range c.r.pod.Spec.ImagePullSecrets {
		if s, err := c.r.prov.cfg.client.CoreV1().Secrets(c.r.pod.Namespace).Get(c.r.ctx, ref.Name, metav1.GetOptions{}); err == nil {
			if d, ok := s.Data[corev1.DockerConfigJsonKey]; ok {
				secrets = append(secrets, d)
			} else if d, ok := s.Data[corev1.DockerConfigKey]; ok {
				secrets = append(secrets, d)
			}
		}
	}
	for {
		pullFailed := false
		c.r.event(corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.spec.Image)
		t0 := time.Now()
		img, err := c.r.prov.cfg.images.Ensure(c.r.ctx, c.spec.Image, c.spec.ImagePullPolicy, secrets, nil)
		if err == nil {
			c.r.event(corev1.EventTypeNormal, "Pulled", "Container image %q ready (%s) in %s", c.spec.Image, img.Digest, time.Since(t0).Round(time.Millisecond))
			if err = os.MkdirAll(c.dir, 0o750); err == nil {
				err = c.r.prov.cfg.images.NewRoot(img, c.root())
			}
			if err == nil {
				// readable by any runAsUser, as an image's / is
				err = os.Chmod(c.root(), 0o755)
			}
			if err != nil {
				c.r.event(corev1.EventTypeWarning, "Failed", "Error: root for container %q: %v", c.spec.Name, err)
				c.setWaiting("CreateContainerError", err.Error())
			} else {
				c.mu.Lock()
				c.img = img
				c.mu.Unlock()
				return true
			}
		} else {
			reason := imagestore.ReasonErrImagePull
			var pe *imagestore.PullError
			if errors.As(err, &pe) {
				reason = pe.Reason
			}
			c.r.event(corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.spec.Image, err)
			c.r.event(corev1.EventTypeWarning, "Failed", "Error: %s", reason)
			c.setWaiting(reason, err.Error())
			pullFailed = reason == imagestore.ReasonErrImagePull
		}
		d := b.delay(0)
		select {
		case <-c.r.ctx.Done():
			return false
		case <-time.After(2 * time.Second):
		}
		if pullFailed {
			c.setWaiting("ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q", c.spec.Image))
			c.r.event(corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.spec.Image)
		}
		select {
		case <-c.r.ctx.Done():
			return false
		case <-time.After(d):
		}
	}
}

// runInit runs an init container until it succeeds (restarting per the
// pod's policy with back-off); false if it failed for good or the pod was
// deleted.
func (c *ctr) runInit() bool {
	for {
		code, ranFor, ok := c.runOnce()
		if !ok {
			return false
		}
		if code == 0 {
			return true
		}
		if c.r.pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			return false
		}
		if !c.backOff(ranFor) {
			return false
		}
	}
}

// loop runs a regular container for the pod's life.
func (c *ctr) loop() {
	for {
		code, ranFor, ok := c.runOnce()
		if !ok {
			return
		}
		switch c.r.pod.Spec.RestartPolicy {
		case corev1.RestartPolicyNever:
			return
		case corev1.RestartPolicyOnFailure:
			if code == 0 {
				return
			}
		}
		if !c.backOff(ranFor) {
			return
		}
	}
}

// backOff waits before a restart, showing CrashLoopBackOff while it waits.
func (c *ctr) backOff(ranFor time.Duration) bool {
	c.mu.Lock()
	d := c.back.delay(ranFor)
	c.mu.Unlock()
	if d > 0 {
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", d, c.spec.Name, c.r.pod.Name, c.r.pod.Namespace, c.r.pod.UID)
		c.mu.Lock()
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}}
		c.mu.Unlock()
		c.r.changed()
		c.r.event(corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.spec.Name, c.r.pod.Name, c.r.pod.Namespace, c.r.pod.UID)
	}
	select {
	case <-c.r.ctx.Done():
		return false
	case <-time.After(d):
	}
	c.mu.Lock()
	c.restarts++
	c.mu.Unlock()
	return true
}

// logFile returns the log of the current run (or the previous one) and
// a function that reports whether that run is still writing it.
func (c *ctr) logFile(previous bool) (string, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.logIndex
	if previous {
		n--
	}
	if n < 0 {
		return "", nil
	}
	return filepath.Join(c.logDir, strconv.Itoa(n)+".log"), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.logIndex == n && c.state.Running != nil
	}
}

// env is the container's environment: the image's, then the spec's (which
// virtual-kubelet resolved, including valueFrom and the Service variables).
func (c *ctr) env() []string {
	var env []string
	seen := map[string]int{}
	add := func(k, v string) {
		if i, ok := seen[k]; ok {
			env[i] = k + "=" + v
			return
		}
		seen[k] = len(env)
		env = append(env, k+"="+v)
	}
	add("PATH", defaultPath)
	add("HOSTNAME", c.r.hostname())
	if c.img != nil {
		for _, kv := range c.img.Config.Env {
			k, v, _ := strings.Cut(kv, "=")
			add(k, v)
		}
	}
	for _, e := range c.spec.Env {
		add(e.Name, e.Value)
	}
	for _, kv := range inClusterEnv(c.r.prov.cfg.apiServer) {
		k, v, _ := strings.Cut(kv, "=")
		add(k, v)
	}
	return env
}

func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

// argv is the command per the kubelet's rules: command replaces the
// image's entrypoint (and drops its cmd), args replace the image's cmd.
func (c *ctr) argv() []string {
	var entry, cmd []string
	if c.img != nil {
		entry, cmd = c.img.Config.Entrypoint, c.img.Config.Cmd
	}
	if len(c.spec.Command) > 0 {
		entry, cmd = c.spec.Command, nil
	}
	if len(c.spec.Args) > 0 {
		cmd = c.spec.Args
	}
	return append(append([]string{}, entry...), cmd...)
}

func (c *ctr) workingDir() string {
	if c.spec.WorkingDir != "" {
		return c.spec.WorkingDir
	}
	if c.img != nil && c.img.Config.WorkingDir != "" {
		return c.img.Config.WorkingDir
	}
	return "/"
}

// ids returns runAsUser and runAsGroup (-1: keep the agent's).
func (c *ctr) ids() (int64, int64) {
	uid, gid := int64(-1), int64(-1)
	if c.img != nil && c.img.Config.User != "" {
		u, g, _ := strings.Cut(c.img.Config.User, ":")
		if n, err := strconv.ParseInt(u, 10, 64); err == nil {
			uid = n
		}
		if n, err := strconv.ParseInt(g, 10, 64); err == nil {
			gid = n
		}
	}
	if psc := c.r.pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			uid = *psc.RunAsUser
		}
		if psc.RunAsGroup != nil {
			gid = *psc.RunAsGroup
		}
	}
	if sc := c.spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
	}
	if uid == int64(os.Getuid()) && gid < 0 {
		uid = -1
	}
	if c.r.prov.cfg.isolation == IsolationUserns && !hasCapSysAdmin() {
		// only root is mapped in the container's user namespace
		if uid > 0 || gid > 0 {
			return 0, 0
		}
	}
	return uid, gid
}

// runOnce starts the container, waits for it to exit (or to be stopped:
// ok false) and records the termination.
func (c *ctr) runOnce() (code int, ranFor time.Duration, ok bool) {
	if c.r.ctx.Err() != nil {
		return 0, 0, false
	}
	if err := os.MkdirAll(c.logDir, 0o750); err != nil {
		c.setWaiting("CreateContainerError", err.Error())
		return 1, 0, c.r.ctx.Err() == nil
	}
	c.mu.Lock()
	c.logIndex = int(c.restarts)
	logPath := filepath.Join(c.logDir, strconv.Itoa(c.logIndex)+".log")
	c.mu.Unlock()
	lg, err := openCRILog(logPath)
	if err != nil {
		c.setWaiting("CreateContainerError", err.Error())
		return 1, 0, true
	}
	defer lg.Close()
	defer c.returnVolumes(c.lendVolumes())
	c.syncCopies()
	uid, gid := c.ids()
	iso := c.r.prov.cfg.isolation
	spec := procSpec{
		Mode:     iso,
		Root:     c.root(),
		NewNS:    true,
		Mounts:   c.mounts(),
		Hostname: c.r.hostname(),
		Dir:      c.workingDir(),
		Argv:     c.argv(),
		Env:      c.env(),
		UID:      uid,
		GID:      gid,
		OwnAddr:  c.r.ownAddr(),
		Keep:     c.r.prov.cfg.keep,
		Shift:    c.r.prov.cfg.shift,
	}
	if iso == IsolationNone {
		spec.Root, spec.Dir = "", ""
	}
	if iso == IsolationChroot {
		makeDevNodes(c.root())
	}
	var stdinR, ttySlave *os.File
	var outR, outW, errR, errW *os.File
	if c.spec.TTY {
		master, slave, err := openPTY()
		if err != nil {
			c.setWaiting("CreateContainerError", "tty: "+err.Error())
			return 1, 0, true
		}
		ttySlave = slave
		c.mu.Lock()
		c.tty = master
		c.mu.Unlock()
	} else {
		if outR, outW, err = os.Pipe(); err != nil {
			return 1, 0, true
		}
		if errR, errW, err = os.Pipe(); err != nil {
			return 1, 0, true
		}
		if c.spec.Stdin {
			var w *os.File
			if stdinR, w, err = os.Pipe(); err != nil {
				return 1, 0, true
			}
			c.mu.Lock()
			c.stdin = w
			c.mu.Unlock()
		}
	}
	var p *process
	if ttySlave != nil {
		p, err = startProcess(spec, nil, nil, nil, ttySlave)
		ttySlave.Close()
	} else {
		var in *os.File
		if stdinR != nil {
			in = stdinR
		}
		if in != nil {
			p, err = startProcess(spec, in, outW, errW, nil)
		} else {
			p, err = startProcess(spec, nil, outW, errW, nil)
		}
		outW.Close()
		errW.Close()
		if stdinR != nil {
			stdinR.Close()
		}
	}
	if err != nil {
		c.r.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
		c.terminated(128, "StartError", err.Error(), time.Now())
		return 128, 0, true
	}
	var copies sync.WaitGroup
	if c.tty != nil {
		copies.Add(1)
		go func() { defer copies.Done(); lg.copyFrom("stdout", c.tty) }()
	} else {
		copies.Add(2)
		go func() { defer copies.Done(); lg.copyFrom("stdout", outR); outR.Close() }()
		go func() { defer copies.Done(); lg.copyFrom("stderr", errR); errR.Close() }()
	}
	startedAt := time.Now()
	exited := make(chan struct{})
	c.mu.Lock()
	c.proc, c.exited = p, exited
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(startedAt)}}
	c.ready = false
	c.started = c.spec.StartupProbe == nil
	if c.spec.ReadinessProbe == nil && c.started && !c.init {
		c.ready = true
	}
	c.mu.Unlock()
	c.r.event(corev1.EventTypeNormal, "Started", "Started container %s", c.spec.Name)
	c.r.changed()

	var exitCode int
	go func() { exitCode, _ = p.wait(); close(exited) }()
	stopped, reason := false, ""
	select {
	case <-exited:
	case <-c.kill:
		reason = "liveness"
		c.terminate(p, exited, c.r.graceful())
	case <-c.r.ctx.Done():
		stopped = true
		c.r.event(corev1.EventTypeNormal, "Killing", "Stopping container %s", c.spec.Name)
		c.terminate(p, exited, c.r.graceful())
	}
	<-exited
	if c.tty != nil {
		// the slave is closed: reading the master ends with EIO
		go func() { time.Sleep(200 * time.Millisecond); c.tty.Close() }()
	}
	copies.Wait()
	c.mu.Lock()
	if c.stdin != nil {
		c.stdin.Close()
		c.stdin = nil
	}
	c.tty = nil
	c.mu.Unlock()
	why := "Completed"
	if exitCode != 0 {
		why = "Error"
	}
	_ = reason
	c.terminated(exitCode, why, "", startedAt)
	return exitCode, time.Since(startedAt), !stopped
}

// terminate sends SIGTERM, then SIGKILL after grace, to the process and
// everything it started.
func (c *ctr) terminate(p *process, exited chan struct{}, grace time.Duration) {
	p.signal(syscall.SIGTERM)
	select {
	case <-exited:
		p.signalGroup(syscall.SIGKILL) // what the main process left behind
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
	case <-c.r.hurry:
		p.signal(syscall.SIGKILL)
	}
}

func (c *ctr) terminated(code int, reason, msg string, startedAt time.Time) {
	c.mu.Lock()
	c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode:    int32(code),
		Reason:      reason,
		Message:     msg,
		StartedAt:   metav1.NewTime(startedAt),
		FinishedAt:  metav1.Now(),
		ContainerID: c.id(),
	}}
	c.last = c.state
	c.ready = false
	c.proc = nil
	c.mu.Unlock()
	c.r.changed()
}

func (c *ctr) id() string {
	return fmt.Sprintf("kprobe-process://%s-%s-%d", c.r.pod.UID, c.spec.Name, c.restarts)
}

// status is the container's status for the pod (lock-free snapshot).
func (c *ctr) status() corev1.ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := corev1.ContainerStatus{
		Name:         c.spec.Name,
		State:        *c.state.DeepCopy(),
		Ready:        c.ready,
		RestartCount: c.restarts,
		Image:        c.spec.Image,
	}
	if c.img != nil {
		s.ImageID = c.img.Digest
	}
	if c.state.Running != nil || c.state.Terminated != nil {
		s.ContainerID = c.id()
	}
	if c.last.Terminated != nil && (c.state.Running != nil || c.state.Waiting != nil) {
		s.LastTerminationState = *c.last.DeepCopy()
	}
	started := c.state.Running != nil && c.started
	s.Started = &started
	return s
}

// release removes the container's root.
func (c *ctr) release() {
	c.mu.Lock()
	img := c.img
	c.mu.Unlock()
	if img != nil {
		if err := c.r.prov.cfg.images.RemoveRoot(c.root()); err != nil {
			c.r.prov.cfg.log("pod %s: remove root of %s: %v", c.r.pod.Name, c.spec.Name, err)
		}
	}
}

func (r *podRun) hostname() string {
	h := r.pod.Name
	if r.pod.Spec.Hostname != "" {
		h = r.pod.Spec.Hostname
	}
	if len(h) > 63 {
		h = h[:63]
	}
	return h
}

var errNotRunning = errors.New("container is not running")
