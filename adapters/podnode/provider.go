package podnode

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	utilexec "k8s.io/utils/exec"

	"github.com/kprobe/kprobe/adapters/bindtrace"
)

type providerConfig struct {
	client    kubernetes.Interface
	nodeName  string
	nodeIP    string
	apiServer string // the API server's URL, as the agent reaches it
	dataDir   string
	isolation Isolation
	images    Images
	log       func(string, ...any)
	// Pod addresses and the cluster DNS (network.go); nil and "": pods
	// get the node's address and the sandbox's resolv.conf.
	addrs                     *podAddrs
	clusterDNS, clusterDomain string
	// ownBinds: each pod's processes run under the bind tracer with its
	// address (adapters/bindtrace), so pods do not share ports.
	ownBinds bool
	// keep: the loopback services pods are told to use (the API server,
	// the sandbox's resolver) whose connects stay on loopback.
	keep []netip.AddrPort
	// shift: where nobody may listen below 1024, pods' connects to
	// Service ports there go to the proxy's port plus an offset.
	shift bindtrace.Shift
}

// provider is the virtual-kubelet provider: it keeps one podRun per pod
// bound to the node.
type provider struct {
	cfg      providerConfig
	recorder record.EventRecorder
	events   record.EventBroadcaster

	mu     sync.Mutex
	pods   map[string]*podRun // namespace/name
	notify func(*corev1.Pod)
	wg     sync.WaitGroup
}

func newProvider(cfg providerConfig) (*provider, error) {
	for _, d := range []string{"pods", "logs/pods", "images"} {
		if err := os.MkdirAll(filepath.Join(cfg.dataDir, d), 0o750); err != nil {
			return nil, err
		}
	}
	eb := record.NewBroadcaster()
	eb.StartRecordingToSink(&corev1client.EventSinkImpl{Interface: cfg.client.CoreV1().Events("")})
	return &provider{
		cfg:      cfg,
		events:   eb,
		recorder: eb.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.nodeName}),
		pods:     map[string]*podRun{},
		notify:   func(*corev1.Pod) {},
	}, nil
}

// setListers is called once the node has its informers; the provider reads
// ConfigMaps and Secrets with the client (as the kubelet does, per object).
func (p *provider) setListers(nodeutil.ProviderConfig) {}

// shutdown stops every pod's processes (SIGKILL: the agent is going away)
// and waits for them.
func (p *provider) shutdown() {
	p.mu.Lock()
	for _, r := range p.pods {
		r.stop()
	}
	p.mu.Unlock()
	p.wg.Wait()
	p.events.Shutdown()
}

func key(ns, name string) string { return ns + "/" + name }

// CreatePod starts a pod's containers.
func (p *provider) CreatePod(ctx context.Context, pod *corev1.Pod) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key(pod.Namespace, pod.Name)
	if old, ok := p.pods[k]; ok && old.uid() == string(pod.UID) {
		return nil
	}
	r := newPodRun(p, pod.DeepCopy())
	p.pods[k] = r
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r.run()
		p.mu.Lock()
		if p.pods[k] == r {
			delete(p.pods, k)
		}
		p.mu.Unlock()
	}()
	return nil
}

// UpdatePod takes the new metadata (labels and annotations feed the
// downward API); the rest of a pod's spec cannot change.
func (p *provider) UpdatePod(ctx context.Context, pod *corev1.Pod) error {
	r := p.get(pod.Namespace, pod.Name)
	if r == nil {
		return errdefs.NotFoundf("pod %s/%s is not known", pod.Namespace, pod.Name)
	}
	r.update(pod)
	return nil
}

// DeletePod stops a pod with its grace period; the terminal status is
// notified when every container has stopped.
func (p *provider) DeletePod(ctx context.Context, pod *corev1.Pod) error {
	r := p.get(pod.Namespace, pod.Name)
	if r == nil {
		return errdefs.NotFoundf("pod %s/%s is not known", pod.Namespace, pod.Name)
	}
	grace := int64(-1)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	}
	r.delete(grace)
	return nil
}

func (p *provider) get(ns, name string) *podRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pods[key(ns, name)]
}

// GetPod returns the pod with its current status.
func (p *provider) GetPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	r := p.get(ns, name)
	if r == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not known", ns, name)
	}
	return r.snapshot(), nil
}

// GetPodStatus returns a pod's current status.
func (p *provider) GetPodStatus(ctx context.Context, ns, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods returns every pod the node runs.
func (p *provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(runs))
	for _, r := range runs {
		out = append(out, r.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out, nil
}

// NotifyPods registers the callback for asynchronous status updates.
func (p *provider) NotifyPods(_ context.Context, f func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = f
	p.mu.Unlock()
}

func (p *provider) notifyPod(pod *corev1.Pod) {
	p.mu.Lock()
	f := p.notify
	p.mu.Unlock()
	f(pod)
}

func (p *provider) container(ns, name, cname string) (*podRun, *ctr, error) {
	r := p.get(ns, name)
	if r == nil {
		return nil, nil, errdefs.NotFoundf("pod %s/%s is not known", ns, name)
	}
	c := r.container(cname)
	if c == nil {
		return nil, nil, errdefs.NotFoundf("container %q is not in pod %s/%s", cname, ns, name)
	}
	return r, c, nil
}

// GetContainerLogs reads a container's CRI log (the previous run's with
// Previous).
func (p *provider) GetContainerLogs(ctx context.Context, ns, name, cname string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	_, c, err := p.container(ns, name, cname)
	if err != nil {
		return nil, err
	}
	path, running := c.logFile(opts.Previous)
	if path == "" {
		return nil, errdefs.NotFoundf("previous terminated container %q in pod %q not found", cname, name)
	}
	return readLogs(ctx, path, opts, running)
}

// RunInContainer runs cmd in a running container's root, with its
// environment and isolation.
func (p *provider) RunInContainer(ctx context.Context, ns, name, cname string, cmd []string, attach api.AttachIO) error {
	r, c, err := p.container(ns, name, cname)
	if err != nil {
		return err
	}
	code, err := r.exec(ctx, c, cmd, attach)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// AttachToContainer streams a running container's output from now on and
// feeds its stdin when the container asked for one.
func (p *provider) AttachToContainer(ctx context.Context, ns, name, cname string, attach api.AttachIO) error {
	_, c, err := p.container(ns, name, cname)
	if err != nil {
		return err
	}
	return c.attach(ctx, attach)
}

// PortForward connects a stream to a port of the pod: pods share the
// sandbox's network, so that is the port on the loopback address.
func (p *provider) PortForward(ctx context.Context, ns, name string, port int32, stream io.ReadWriteCloser) error {
	r := p.get(ns, name)
	if r == nil {
		return errdefs.NotFoundf("pod %s/%s is not known", ns, name)
	}
	defer stream.Close()
	var d net.Dialer
	// The pod's own address first: a process may listen on that alone.
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(r.localIP(), fmt.Sprint(port)))
	if err != nil {
		conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)))
	}
	if err != nil {
		conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort(p.cfg.nodeIP, fmt.Sprint(port)))
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); closeWrite(conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// GetStatsSummary reports node and pod usage read from /proc.
func (p *provider) GetStatsSummary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	p.mu.Lock()
	runs := make([]*podRun, 0, len(p.pods))
	for _, r := range p.pods {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	return statsSummary(p.cfg.nodeName, runs, time.Now()), nil
}

// GetMetricsResource is not served: metrics-server uses the summary API.
func (p *provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, errdefs.NotFound("resource metrics are not served by process pods; use /stats/summary")
}

// archiveLoader is the part of an image store that loads local archives.
type archiveLoader interface {
	Load(ctx context.Context, path string) ([]string, error)
}

// preload loads every image archive (*.tar) of dir into the store, so pods
// with imagePullPolicy Never or IfNotPresent find them.
func (p *provider) preload(ctx context.Context, dir string) {
	if dir == "" {
		return
	}
	l, ok := p.cfg.images.(archiveLoader)
	if !ok {
		return
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.tar"))
	for _, path := range paths {
		t0 := time.Now()
		refs, err := l.Load(ctx, path)
		if err != nil {
			p.cfg.log("preload %s: %v", path, err)
			continue
		}
		p.cfg.log("preloaded %s in %s: %v", filepath.Base(path), time.Since(t0).Round(time.Millisecond), refs)
	}
}
