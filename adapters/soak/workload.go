package soak

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// image is the one image the test images provide, never pulled.
const image = "docker.io/library/busybox:1.35"

// The workload's scripts. Each prints machine-readable lines that the
// soak follows through the API and checks.
const (
	// logger: a numbered line per second.
	loggerScript = `i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done`
	// scaler: the pods the Deployment scales; they log too.
	scalerScript = `i=0; while true; do i=$((i+1)); echo "scaler tick $i"; sleep 1; done`
	// web: a static page.
	webScript = `mkdir -p /www; echo soak-ok > /www/index.html; exec httpd -f -p 8080 -h /www`
	// load: $R requests to $T:80 per round, a round every $I seconds; it
	// first waits (bounded) for the Service to answer once. nc, not wget:
	// Debian's static busybox wget crashes in glibc's static resolver.
	loadScript = `get() { printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 "$T" 80 2>/dev/null | grep -q soak-ok; }
w=0; until get; do w=$((w+1)); if [ $w -ge 60 ]; then echo "load-timeout"; break; fi; sleep 1; done
[ $w -lt 60 ] && echo "load-ready waited=${w}s"
n=0; while true; do n=$((n+1)); ok=0; fail=0; i=0
while [ $i -lt $R ]; do i=$((i+1)); if get; then ok=$((ok+1)); else fail=$((fail+1)); fi; done
echo "load $n ok=$ok fail=$fail"; sleep $I; done`
	// writer: appends a line per round to the claim, syncs, and says how
	// many lines the file has; at start, how many it found.
	writerScript = `f=/data/soak.seq; touch $f; echo "writer-start lines=$(wc -l < $f)"
while true; do if date +%s >> $f && sync; then echo "write lines=$(wc -l < $f)"; else echo "write-failed"; fi; sleep $I; done`
)

func labels(app string) map[string]string {
	return map[string]string{"app": app, "app.kubernetes.io/managed-by": "kprobe", "app.kubernetes.io/part-of": "kprobe-soak"}
}

// podSpec runs script in busybox: no service account token (its volume
// waits for the namespace's root CA ConfigMap), a 1 s grace period.
func podSpec(name, script string, env ...corev1.EnvVar) corev1.PodSpec {
	grace := int64(1)
	return corev1.PodSpec{
		TerminationGracePeriodSeconds: &grace,
		AutomountServiceAccountToken:  new(bool),
		EnableServiceLinks:            new(bool),
		Containers: []corev1.Container{{
			Name: name, Image: image, ImagePullPolicy: corev1.PullNever,
			Command: []string{"sh", "-c", script}, Env: env,
		}},
	}
}

func (s *soaker) pod(name, script string, env ...corev1.EnvVar) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.o.Namespace, Labels: labels(name)},
		Spec: podSpec(name, script, env...)}
}

func (s *soaker) deployment(name, script string, replicas int32, port int32) *appsv1.Deployment {
	spec := podSpec(name, script)
	if port > 0 {
		spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: port}}
		spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1,
			ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.o.Namespace, Labels: labels(name)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(name)}, Spec: spec},
		},
	}
}

func env(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

func (s *soaker) writerPod() *corev1.Pod {
	p := s.pod("writer", writerScript, env("I", s.interval()))
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	return p
}

func (s *soaker) interval() string {
	return strconv.Itoa(max(1, int(s.o.Interval.Round(time.Second).Seconds())))
}

// writerEvery is how long one writer pod lives before it is recreated on
// the same claim: 5 minutes, or half a shorter soak.
func (s *soaker) writerEvery() time.Duration { return min(5*time.Minute, s.o.Duration/2) }

// prepare deletes a namespace left by an interrupted soak, creates the
// workload and waits until it runs.
func (s *soaker) prepare(ctx context.Context) error {
	ns := s.o.Namespace
	core := s.cs.CoreV1()
	if _, err := core.Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
		s.say("soak: deleting the namespace %s left by an earlier soak", ns)
		if err := s.deleteNamespace(ctx); err != nil {
			return err
		}
	}
	nodes, err := core.Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	ready := 0
	for _, n := range nodes.Items {
		if _, simulated := n.Annotations["kwok.x-k8s.io/node"]; simulated {
			continue
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	parts := []string{"deployment-cycle", "logs", "service", "storage"}
	if ready == 0 {
		why := "no Ready node runs pods here (control plane only): only the components are sampled"
		for _, p := range parts {
			s.res.Workload = append(s.res.Workload, Part{Name: p, Skipped: why})
		}
		return nil
	}
	if _, err := core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "kprobe"}}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create the namespace %s: %w", ns, err)
	}
	// Pods are refused until the namespace's default ServiceAccount exists;
	// the controller-manager creates it within seconds, this at once.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	if _, err := core.ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	s.workload = true

	sc := s.defaultStorageClass(ctx)
	s.storage = sc != ""
	apps := s.cs.AppsV1().Deployments(ns)
	if _, err := apps.Create(ctx, s.deployment("web", webScript, 1, 8080), metav1.CreateOptions{}); err != nil {
		return err
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: labels("web")},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	svc, err = core.Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if _, err := core.Pods(ns).Create(ctx, s.pod("logger", loggerScript), metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := apps.Create(ctx, s.deployment("scaler", scalerScript, 1, 0), metav1.CreateOptions{}); err != nil {
		return err
	}
	if s.storage {
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns, Labels: labels("writer")},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("16Mi")}}}}
		if _, err := core.PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
			return err
		}
		if _, err := core.Pods(ns).Create(ctx, s.writerPod(), metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	// The load goes to the Service by name when the cluster has a DNS.
	how := "by its cluster IP " + svc.Spec.ClusterIP + " (no cluster DNS)"
	s.target = svc.Spec.ClusterIP
	if _, err := core.Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{}); err == nil {
		s.target, how = "web", "by name (web, through the cluster DNS)"
	}
	if err := s.waitDeployment(ctx, "web", 1); err != nil {
		return err
	}
	if _, err := core.Pods(ns).Create(ctx, s.pod("load", loadScript, env("T", s.target), env("R", strconv.Itoa(s.o.Requests)), env("I", s.interval())),
		metav1.CreateOptions{}); err != nil {
		return err
	}
	for _, w := range []func() error{
		func() error { return s.waitDeployment(ctx, "scaler", 1) },
		func() error { return s.waitPod(ctx, "logger") },
		func() error { return s.waitPod(ctx, "load") },
		func() error {
			if s.storage {
				return s.waitPod(ctx, "writer")
			}
			return nil
		},
	} {
		if err := w(); err != nil {
			return err
		}
	}
	s.res.Workload = []Part{
		{Name: "deployment-cycle", Ran: true, Detail: fmt.Sprintf("Deployment scaler scaled 1→3→1, cycle after cycle; each step must finish within %s and the removed pods' processes must be gone within %s", stepTimeout, ReapWait)},
		{Name: "logs", Ran: true, Detail: fmt.Sprintf("pod logger prints a numbered line per second; its log is followed through the API (as kubectl logs -f): no line may be missing, none later than %s, no silence over 10 s", maxLogLag)},
		{Name: "service", Ran: true, Detail: fmt.Sprintf("Deployment web (busybox httpd) behind Service web; pod load sends %d requests every %ss %s; every one must answer", s.o.Requests, s.interval(), how)},
	}
	storage := Part{Name: "storage", Skipped: "no default StorageClass in the cluster: no PersistentVolumeClaim writes"}
	if s.storage {
		storage = Part{Name: "storage", Ran: true, Detail: fmt.Sprintf("PersistentVolumeClaim data of the default StorageClass %s; pod writer appends and syncs a line every %ss and is recreated every %s: every write must land and survive the recreation", sc, s.interval(), s.writerEvery())}
	}
	s.res.Workload = append(s.res.Workload, storage)
	return nil
}

// defaultStorageClass names the cluster's default StorageClass, or "".
func (s *soaker) defaultStorageClass(ctx context.Context) string {
	scs, err := s.cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	for _, sc := range scs.Items {
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" ||
			sc.Annotations["storageclass.beta.kubernetes.io/is-default-class"] == "true" {
			return sc.Name
		}
	}
	return ""
}

func (s *soaker) waitDeployment(ctx context.Context, name string, replicas int32) error {
	err := poll(ctx, stepTimeout, func(ctx context.Context) (bool, error) {
		d, err := s.cs.AppsV1().Deployments(s.o.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.ObservedGeneration >= d.Generation && d.Status.ReadyReplicas == replicas &&
			d.Status.UpdatedReplicas == replicas && d.Status.Replicas == replicas, nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s: %d ready replicas: %w%s", name, replicas, err, s.podEvents(ctx, name))
	}
	return nil
}

func (s *soaker) waitPod(ctx context.Context, name string) error {
	err := poll(ctx, stepTimeout, func(ctx context.Context) (bool, error) {
		p, err := s.cs.CoreV1().Pods(s.o.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("pod %s ended: %s", name, p.Status.Phase)
		}
		return p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		return fmt.Errorf("pod %s Running: %w%s", name, err, s.podEvents(ctx, name))
	}
	return nil
}

// podEvents is the last events of the namespace's objects whose name
// starts with prefix, for a failure's message.
func (s *soaker) podEvents(ctx context.Context, prefix string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ev, err := s.cs.CoreV1().Events(s.o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	var out []string
	for _, e := range ev.Items {
		if strings.HasPrefix(e.InvolvedObject.Name, prefix) && e.Type != corev1.EventTypeNormal {
			out = append(out, e.InvolvedObject.Name+": "+e.Reason+" "+e.Message)
		}
	}
	if len(out) > 3 {
		out = out[len(out)-3:]
	}
	if len(out) == 0 {
		return ""
	}
	return " (events: " + strings.Join(out, "; ") + ")"
}

// scaleLoop scales the Deployment scaler 1→3→1 until ctx ends, checking
// each step finishes in time and the removed pods leave no process.
func (s *soaker) scaleLoop(ctx context.Context) {
	hold := s.o.Interval
	for ctx.Err() == nil {
		c, ok := s.cycle(ctx, hold)
		if ctx.Err() != nil {
			return
		}
		c.OK = ok
		s.mu.Lock()
		s.res.Cycles = append(s.res.Cycles, c)
		s.mu.Unlock()
		if !ok {
			// Back to one replica before the next cycle, whatever failed.
			_ = s.scale(ctx, 1)
			_ = s.waitDeployment(ctx, "scaler", 1)
		}
		sleep(ctx, hold)
	}
}

func (s *soaker) cycle(ctx context.Context, hold time.Duration) (Cycle, bool) {
	c := Cycle{T: round1(time.Since(s.t0).Seconds()), ReapMS: -1}
	failed := func(format string, a ...any) (Cycle, bool) {
		if ctx.Err() == nil {
			s.fail("deployment-cycle", format, a...)
		}
		return c, false
	}
	start := time.Now()
	if err := s.scale(ctx, 3); err != nil {
		return failed("scale to 3: %v", err)
	}
	if err := s.waitDeployment(ctx, "scaler", 3); err != nil {
		return failed("scale up: %v", err)
	}
	c.UpMS = ms(time.Since(start))
	before, err := s.scalerPods(ctx)
	if err != nil {
		return failed("list the scaler's pods: %v", err)
	}
	s.checkAttribution(before)
	if !sleep(ctx, hold) {
		return c, false
	}
	start = time.Now()
	if err := s.scale(ctx, 1); err != nil {
		return failed("scale to 1: %v", err)
	}
	var after map[string]string
	err = poll(ctx, stepTimeout, func(ctx context.Context) (bool, error) {
		var err error
		after, err = s.scalerPods(ctx)
		return len(after) == 1, err
	})
	if err != nil {
		return failed("scale down: 1 pod left: %v (%d pods)", err, len(after))
	}
	c.DownMS = ms(time.Since(start))
	removed := map[string]bool{}
	for uid := range before {
		if _, ok := after[uid]; !ok {
			removed[uid] = true
		}
	}
	if s.res.ProcessAttribution {
		var left procScan
		err := poll(ctx, ReapWait, func(ctx context.Context) (bool, error) {
			left = scanProcs(s.ours, removed)
			return len(left.PodPIDs) == 0, nil
		})
		if ctx.Err() != nil {
			return c, false
		}
		if err != nil {
			for uid, pids := range left.PodPIDs {
				s.leak("deployment-cycle", "pod %s (%s) is deleted but %d of its processes still run after %s: %s",
					before[uid], uid, len(pids), ReapWait, describe(pids))
			}
		} else {
			c.ReapMS = ms(time.Since(start))
		}
	}
	return c, true
}

// checkAttribution finds out whether the scaler's running pods'
// processes are found by their cgroups (tried each cycle until they are):
// then the leak check can look for the processes of removed pods.
func (s *soaker) checkAttribution(pods map[string]string) {
	s.mu.Lock()
	decided := s.res.ProcessAttribution
	s.mu.Unlock()
	if decided || len(pods) == 0 {
		return
	}
	uids := map[string]bool{}
	for uid := range pods {
		uids[uid] = true
	}
	scan := scanProcs(s.ours, uids)
	s.mu.Lock()
	s.res.ProcessAttribution = len(scan.PodPIDs) == len(uids)
	s.mu.Unlock()
}

func describe(pids []int) string {
	var out []string
	for i, p := range pids {
		if i == 3 {
			out = append(out, "...")
			break
		}
		out = append(out, fmt.Sprintf("%d %q", p, cmdline(p)))
	}
	return strings.Join(out, ", ")
}

func (s *soaker) scale(ctx context.Context, n int) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	_, err := s.cs.AppsV1().Deployments(s.o.Namespace).Patch(ctx, "scaler", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// scalerPods are the scaler's pods by UID, terminating ones included.
func (s *soaker) scalerPods(ctx context.Context) (map[string]string, error) {
	pods, err := s.cs.CoreV1().Pods(s.o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=scaler"})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	s.mu.Lock()
	for _, p := range pods.Items {
		out[string(p.UID)] = p.Name
		s.uids[string(p.UID)] = true
	}
	s.mu.Unlock()
	return out, nil
}

// follow streams a pod's log through the API (Follow, with the runtime's
// timestamps) until ctx ends, calling handle for each line with its lag:
// from the runtime's timestamp to its arrival here, -1 for a line written
// before the stream opened. A stream that ends early, or no line for
// stall, is a failed probe of part; a broken stream is reopened from the
// last line's second, and the lines already seen (by their timestamp) are
// skipped.
func (s *soaker) follow(ctx context.Context, pod, part string, stall time.Duration, handle func(text string, lag time.Duration)) {
	var mu sync.Mutex
	last := time.Now()
	go func() {
		stalled := false
		for sleep(ctx, time.Second) {
			mu.Lock()
			quiet := time.Since(last)
			mu.Unlock()
			if quiet > stall && !stalled {
				s.fail(part, "no log line from pod %s for %s", pod, quiet.Round(time.Second))
			}
			stalled = quiet > stall
		}
	}()
	var since *metav1.Time
	var seen time.Time
	for ctx.Err() == nil {
		opts := &corev1.PodLogOptions{Follow: true, Timestamps: true, SinceTime: since}
		opened := time.Now()
		rc, err := s.streams.CoreV1().Pods(s.o.Namespace).GetLogs(pod, opts).Stream(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.fail(part, "open the log stream of pod %s: %v", pod, err)
				sleep(ctx, 2*time.Second)
			}
			continue
		}
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			got := time.Now()
			written, text, ok := splitTimestamp(sc.Text())
			if !ok || !written.After(seen) {
				continue
			}
			seen = written
			mu.Lock()
			last = got
			mu.Unlock()
			since = &metav1.Time{Time: written}
			lag := got.Sub(written)
			if written.Before(opened) {
				lag = -1
			}
			handle(text, lag)
		}
		rc.Close()
		if ctx.Err() == nil {
			s.fail(part, "the log stream of pod %s ended: %v", pod, sc.Err())
			sleep(ctx, time.Second)
		}
	}
}

// splitTimestamp splits a log line of Timestamps: true.
func splitTimestamp(line string) (time.Time, string, bool) {
	ts, text, ok := strings.Cut(line, " ")
	if !ok {
		return time.Time{}, "", false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	return t, text, err == nil
}

// followLogger checks the per-second log: every number, in time.
func (s *soaker) followLogger(ctx context.Context) {
	last := 0
	s.follow(ctx, "logger", "logs", 10*time.Second, func(text string, lag time.Duration) {
		n, ok := field(text, "tick ")
		if !ok {
			return
		}
		// 1 again: the container restarted (a restart, counted as such).
		if last > 0 && n != last+1 && n != 1 {
			s.fail("logs", "lines tick %d..%d never arrived", last+1, n-1)
		}
		last = n
		if lag > maxLogLag {
			s.fail("logs", "line tick %d arrived %s after it was written", n, lag.Round(time.Millisecond))
		}
		s.count(func(x *Sample) {
			x.LogLines++
			if lag >= 0 {
				x.LogLagMS = max(x.LogLagMS, ms(lag))
			}
		})
	})
}

// followLoad checks the load client's rounds.
func (s *soaker) followLoad(ctx context.Context) {
	stall := 3*s.o.Interval + time.Duration(s.o.Requests)*3*time.Second + 10*time.Second
	s.follow(ctx, "load", "service", stall, func(text string, _ time.Duration) {
		if text == "load-timeout" {
			s.fail("service", "the Service %s:80 did not answer within 60 s of the client's start", s.target)
			return
		}
		n, ok := field(text, "load ")
		if !ok {
			return
		}
		okN, _ := value(text, "ok=")
		failN, _ := value(text, "fail=")
		if failN > 0 {
			s.fail("service", "round %d: %d of %d requests to %s:80 failed", n, failN, okN+failN, s.target)
		}
		s.count(func(x *Sample) { x.Requests += okN + failN; x.RequestsFailed += failN })
	})
}

// writeLoop follows the writer, recreating its pod on the same claim
// every writerEvery: each new pod must find every line written before.
func (s *soaker) writeLoop(ctx context.Context) {
	lines := -1 // lines the claim must hold, -1 before the first pod
	stall := 2*s.o.Interval + 15*time.Second
	for round := 0; ctx.Err() == nil; round++ {
		if round > 0 {
			if err := s.recreateWriter(ctx); err != nil {
				if ctx.Err() == nil {
					s.fail("storage", "recreate the writer pod: %v", err)
					sleep(ctx, s.o.Interval)
				}
				continue
			}
		}
		started := false
		rctx, cancel := context.WithTimeout(ctx, s.writerEvery())
		s.follow(rctx, "writer", "storage", stall, func(text string, _ time.Duration) {
			switch {
			case strings.HasPrefix(text, "writer-start "):
				// A new pod, or its container restarted: the claim must
				// still hold every line.
				n, _ := field(text, "writer-start lines=")
				if lines >= 0 && n < lines {
					s.fail("storage", "the writer started again and found %d lines on the claim, %d were written", n, lines)
				} else if lines >= 0 && !started {
					s.mu.Lock()
					s.res.WriterRestarts++
					s.mu.Unlock()
				}
				started = true
				lines = n
			case text == "write-failed":
				s.fail("storage", "a write to the claim failed")
			case strings.HasPrefix(text, "write "):
				n, _ := field(text, "write lines=")
				if n != lines+1 {
					s.fail("storage", "after a write the claim holds %d lines, want %d", n, lines+1)
				}
				lines = n
				s.count(func(x *Sample) { x.Writes++ })
			}
		})
		cancel()
	}
}

// recreateWriter deletes the writer pod, waits until it is gone and
// starts it again on the same claim.
func (s *soaker) recreateWriter(ctx context.Context) error {
	pods := s.cs.CoreV1().Pods(s.o.Namespace)
	if err := pods.Delete(ctx, "writer", metav1.DeleteOptions{}); err != nil && !notFound(err) {
		return err
	}
	err := poll(ctx, stepTimeout, func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, "writer", metav1.GetOptions{})
		if notFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("the old pod: %w", err)
	}
	if _, err := pods.Create(ctx, s.writerPod(), metav1.CreateOptions{}); err != nil {
		return err
	}
	return s.waitPod(ctx, "writer")
}

// field parses the integer after prefix at the start of text.
func field(text, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(text, prefix)
	if !ok {
		return 0, false
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, err := strconv.Atoi(rest[:end])
	return n, err == nil
}

// value parses the integer of a key=N word of text.
func value(text, key string) (int, bool) {
	for _, w := range strings.Fields(text) {
		if strings.HasPrefix(w, key) {
			return field(w, key)
		}
	}
	return 0, false
}

func ms(d time.Duration) float64 { return round1(float64(d.Microseconds()) / 1000) }

// deleteNamespace deletes the namespace and waits until it is gone.
func (s *soaker) deleteNamespace(ctx context.Context) error {
	ns := s.cs.CoreV1().Namespaces()
	bg := metav1.DeletePropagationBackground
	if err := ns.Delete(ctx, s.o.Namespace, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !notFound(err) {
		return fmt.Errorf("delete the namespace %s: %w", s.o.Namespace, err)
	}
	err := poll(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
		_, err := ns.Get(ctx, s.o.Namespace, metav1.GetOptions{})
		if notFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("the namespace %s is not gone: %w", s.o.Namespace, err)
	}
	return nil
}

// cleanup deletes the namespace, then waits (bounded) until the node has
// torn its pods down, and records what is left.
func (s *soaker) cleanup(ctx context.Context) {
	f := &s.res.Final
	if !s.workload {
		f.NamespaceDeleted = true
		return
	}
	s.say("soak: deleting the namespace %s", s.o.Namespace)
	if err := s.deleteNamespace(ctx); err != nil {
		f.Error = err.Error()
		return
	}
	f.NamespaceDeleted = true
	s.mu.Lock()
	uids := map[string]bool{}
	for u := range s.uids {
		uids[u] = true
	}
	s.mu.Unlock()
	var scan procScan
	_ = poll(ctx, settleTimeout, func(ctx context.Context) (bool, error) {
		nodes, err := s.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods, err := s.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		f.Pods = s.countPods(nodes, pods)
		scan = scanProcs(s.ours, uids)
		f.Shims = scan.Shims
		return f.Shims <= f.Pods && (!s.res.ProcessAttribution || len(scan.PodPIDs) == 0), nil
	})
	f.LeakedShims = max(0, f.Shims-f.Pods)
	if s.res.ProcessAttribution {
		for uid, pids := range scan.PodPIDs {
			f.LeakedProcesses += len(pids)
			s.leak("cleanup", "pod %s is deleted but %d of its processes still run: %s", uid, len(pids), describe(pids))
		}
	}
	if f.LeakedShims > 0 {
		s.leak("cleanup", "%d containerd shims run for %d pods a minute after the namespace was deleted", f.Shims, f.Pods)
	}
}
