package launch

// Worker nodes (issue 7): `kprobe launch --nodes N` runs node 0 on the
// host as a single-node launch does, and nodes 1..N-1 on the same machine,
// each in its own network namespace (/run/netns/kprobe-node-I, a veth pair
// to the host bridge kprobe-nodes) and mount namespace, with its own
// containerd, kubelet and kube-proxy (adapters/upstream/worker.go), all
// under the one supervisor. Pods reach each other across nodes through
// each node's bridge CNI and plain routes: node I's pod range
// 10.244.I.0/24 is routed via its address on the host and in every other
// worker; no overlay, no NAT between pods. `kprobe stop` undoes all of it
// through the host snapshot (adapters/hoststate): the namespaces, links,
// routes (they go with the links), iptables chains, cgroup roots and
// ip_forward.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/addons"
	"github.com/kprobe/kprobe/adapters/hoststate"
	"github.com/kprobe/kprobe/adapters/images"
	"github.com/kprobe/kprobe/adapters/pki"
	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// Worker is one worker node of a launch, as run/nodes.json records it
// for stop and status.
type Worker struct {
	Index   int    `json:"index"`
	Name    string `json:"name"`
	Address string `json:"address"`
	PodCIDR string `json:"podCIDR"`
	Netns   string `json:"netns"`
	Socket  string `json:"socket"`
	DataDir string `json:"dataDir"`
}

func nodesPath(dataDir string) string { return filepath.Join(dataDir, "run", "nodes.json") }

// LoadWorkers reads the workers of the last launch of dataDir (none for a
// single-node launch).
func LoadWorkers(dataDir string) []Worker {
	var ws []Worker
	if err := readJSON(nodesPath(dataDir), &ws); err != nil {
		return nil
	}
	return ws
}

// workersWanted is how many workers the launch runs: none at T3, where
// no kubelet runs (the ladder may step down there), which the plan notes.
func workersWanted(plan *adapters.Plan, o Options) int {
	if o.Nodes <= 1 {
		return 0
	}
	if !plan.Worker() {
		plan.Notes = append(plan.Notes, fmt.Sprintf("--nodes %d: rung %s runs no kubelet, so no worker node either", o.Nodes, plan.Rung))
		return 0
	}
	return o.Nodes - 1
}

// nodesSANs are the API server certificate's extra addresses: the
// workers reach it at the host's end of the nodes' bridge.
func nodesSANs(o Options) []string {
	if o.Nodes <= 1 {
		return nil
	}
	return []string{upstream.NodeAddress(0)}
}

// nodesPreflight refuses a multi-node launch that would collide with the
// host: a missing tool, the nodes' names or address ranges in use (a
// launch that was never stopped leaves its bridge and namespaces).
func nodesPreflight(o Options) error {
	if o.Nodes <= 1 {
		return nil
	}
	var problems []string
	if o.Nodes > upstream.MaxNodes {
		problems = append(problems, fmt.Sprintf("--nodes %d: at most %d", o.Nodes, upstream.MaxNodes))
	}
	for _, tool := range []string{"nsenter", "unshare", "iptables", "mount", "sleep"} {
		if _, err := exec.LookPath(tool); err != nil {
			problems = append(problems, fmt.Sprintf("--nodes needs %s (Debian: util-linux, iptables, coreutils)", tool))
		}
	}
	if _, err := os.Stat("/sys/class/net/" + upstream.NodesBridge); err == nil {
		problems = append(problems, fmt.Sprintf("the link %s exists already: a multi-node launch was not stopped (`kprobe stop --data-dir DIR` of that launch)", upstream.NodesBridge))
	}
	for i := 1; i < o.Nodes; i++ {
		if _, err := os.Stat(upstream.NodeNetnsPath(i)); err == nil {
			problems = append(problems, fmt.Sprintf("the network namespace %s exists already: a multi-node launch was not stopped (`kprobe stop --data-dir DIR` of that launch)", upstream.NodeName(i)))
		}
		if veth := hoststate.NodeVethPrefix + strconv.Itoa(i); fileExists("/sys/class/net/" + veth) {
			problems = append(problems, fmt.Sprintf("the link %s exists already: a multi-node launch was not stopped (`kprobe stop --data-dir DIR` of that launch)", veth))
		}
	}
	want := []string{upstream.NodesNetwork}
	for i := 1; i < o.Nodes; i++ {
		want = append(want, upstream.NodePodCIDR(i))
	}
	for _, used := range hostPrefixes() {
		for _, w := range want {
			if p := netip.MustParsePrefix(w); used.Bits() > 0 && used.Overlaps(p) {
				problems = append(problems, fmt.Sprintf("%s, which --nodes uses, overlaps %s on this host (an address or a route)", w, used))
			}
		}
	}
	if len(problems) > 0 {
		return &PreflightError{Problems: problems}
	}
	return nil
}

// hostPrefixes are the host's IPv4 addresses (with their networks) and
// the destinations of its main routing table.
func hostPrefixes() []netip.Prefix {
	var out []netip.Prefix
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				if p, err := netip.ParsePrefix(ipn.String()); err == nil {
					out = append(out, p.Masked())
				}
			}
		}
	}
	data, _ := os.ReadFile("/proc/net/route")
	for _, l := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		// Little-endian words, as the kernel prints them.
		d := netip.AddrFrom4([4]byte{byte(dst), byte(dst >> 8), byte(dst >> 16), byte(dst >> 24)})
		bits := 0
		for m := uint32(mask); m != 0; m &= m - 1 {
			bits++
		}
		out = append(out, netip.PrefixFrom(d, bits))
	}
	return out
}

// prepareWorkers makes everything the workers need before the supervisor
// starts: their certificates and kubeconfigs, their configuration files,
// the nodes' network (bridge, namespaces, veths, routes, masquerading,
// ip_forward) and the kubelets' cgroup roots; it adds their processes to
// r (the holders and containerds right after node 0's containerd, the
// kubelets and kube-proxies last) and records them in run/nodes.json. The
// host snapshot was saved before: whatever this makes, stop undoes, and
// when it fails it undoes it at once.
func prepareWorkers(ctx context.Context, plan *adapters.Plan, o Options, c upstream.Config, bundle *pki.Bundle, r *upstream.Rendered) (err error) {
	n := workersWanted(plan, o)
	if n == 0 {
		// A previous launch's record, if any.
		if err := os.Remove(nodesPath(o.DataDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	server := "https://" + net.JoinHostPort(upstream.NodeAddress(0), "6443")
	var workers []Worker
	var early, late []supervise.Process
	for i := 1; i <= n; i++ {
		name, dir := upstream.NodeName(i), upstream.NodeDataDir(o.DataDir, i)
		nb, err := bundle.EnsureNode(filepath.Join(dir, "pki"), pki.Options{NodeName: name, NodeIP: net.ParseIP(upstream.NodeAddress(i))})
		if err != nil {
			return err
		}
		kubeletConf := filepath.Join(dir, "kubeconfigs", pki.KubeletConf)
		proxyConf := filepath.Join(dir, "kubeconfigs", pki.KubeProxyConf)
		if err := os.MkdirAll(filepath.Dir(kubeletConf), 0o755); err != nil {
			return err
		}
		if err := nb.WriteKubeconfig(kubeletConf, server); err != nil {
			return err
		}
		if err := bundle.WriteKubeProxyKubeconfig(proxyConf, server); err != nil {
			return err
		}
		rw, err := upstream.RenderWorker(plan, c, upstream.Worker{Index: i, Certs: upstream.WorkerCerts{
			CA: bundle.CA.Cert, KubeletServingCert: nb.KubeletServing.Cert, KubeletServingKey: nb.KubeletServing.Key,
			KubeletKubeconfig: kubeletConf, KubeProxyKubeconfig: proxyConf,
		}})
		if err != nil {
			return err
		}
		for path, content := range rw.Files {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := writeAtomic(path, []byte(content), 0o644); err != nil {
				return err
			}
		}
		// A fresh network namespace has no pods: addresses host-local kept
		// reserved for pods of an earlier launch are free again.
		if err := os.RemoveAll(filepath.Join(dir, "cni", "ipam")); err != nil {
			return err
		}
		for _, d := range []string{"logs/pods", "kubelet/root", "kubelet/pki", "kubelet/volume-plugins", "cni/ipam", "containerd", "run"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(filepath.Dir(rw.Socket), 0o755); err != nil {
			return err
		}
		early = append(early, rw.Early...)
		late = append(late, rw.Late...)
		workers = append(workers, Worker{Index: i, Name: name, Address: upstream.NodeAddress(i), PodCIDR: upstream.NodePodCIDR(i),
			Netns: upstream.NodeNetnsPath(i), Socket: rw.Socket, DataDir: dir})
	}
	if err := writeJSON(nodesPath(o.DataDir), workers); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Undo at once what the network setup made (the snapshot
			// predates it); stop would do the same.
			if snap, lerr := hoststate.Load(snapshotPath(o.DataDir)); lerr == nil {
				_, _ = snap.Undo(context.WithoutCancel(ctx), hostScope(o.DataDir))
			}
		}
	}()
	if err := setupNodesNetwork(ctx, workers); err != nil {
		return fmt.Errorf("the nodes' network: %w", err)
	}
	for _, w := range workers {
		if err := hoststate.MakeCgroupRoot(upstream.NodeCgroupRoot(w.Index)); err != nil {
			return fmt.Errorf("%s's cgroup root: %w", w.Name, err)
		}
	}
	r.Processes = withWorkers(r.Processes, early, late)
	return nil
}

// withWorkers adds the workers' processes to node 0's: the namespace
// holders and containerds right after node 0's containerd, so the
// images go in while the control plane boots, the kubelets and
// kube-proxies last. The supervisor stops them in reverse: the workers'
// kubelets first, their containerds after the control plane.
func withWorkers(node0, early, late []supervise.Process) []supervise.Process {
	at := 0
	for i, p := range node0 {
		if p.Name == "containerd" {
			at = i + 1
		}
	}
	procs := append(append([]supervise.Process{}, node0[:at]...), early...)
	procs = append(procs, node0[at:]...)
	return append(procs, late...)
}

// setupNodesNetwork makes the nodes' links (nodesLinks, through
// netlink) and, for each worker, its sysctls and NAT rules.
func setupNodesNetwork(ctx context.Context, workers []Worker) error {
	if err := nodesLinks(workers); err != nil {
		return err
	}
	var steps [][]string
	for _, w := range workers {
		steps = append(steps, inNetns(w.Netns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"))
		steps = append(steps, masqueradeRules(w.Netns, false)...)
	}
	steps = append(steps, masqueradeRules("", true)...)
	for _, s := range steps {
		if err := run(ctx, s...); err != nil {
			return err
		}
	}
	// The host forwards between the bridges; stop restores the value
	// the snapshot recorded.
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
}

// nodesChain holds the nodes' NAT rules, jumped to from POSTROUTING after
// kube-proxy's chain and before the bridge plugin's per-pod masquerading
// (appended as pods start): pod to pod across nodes keeps its addresses
// (the bridge plugin would masquerade all but its own node's range);
// on the host, what the workers send elsewhere than the nodes' network and
// the pods is masqueraded as the host's, as node 0's pods are.
const nodesChain = hoststate.ChainPrefix + "NODES"

// forwardChain lets the host forward to and from the nodes' bridge where
// FORWARD's policy is DROP (Docker sets it).
const forwardChain = hoststate.ChainPrefix + "FORWARD"

func masqueradeRules(netns string, host bool) [][]string {
	ipt := func(args ...string) []string {
		cmd := append([]string{"iptables", "-w"}, args...)
		if netns != "" {
			return inNetns(netns, cmd...)
		}
		return cmd
	}
	pods, nodes, br := upstream.ClusterPodCIDR, upstream.NodesNetwork, upstream.NodesBridge
	rules := [][]string{
		ipt("-t", "nat", "-N", nodesChain),
		ipt("-t", "nat", "-A", nodesChain, "-s", pods, "-d", pods, "-j", "ACCEPT"),
	}
	if host {
		rules = append(rules,
			ipt("-t", "nat", "-A", nodesChain, "-s", nodes, "-d", pods, "-j", "ACCEPT"),
			ipt("-t", "nat", "-A", nodesChain, "-s", nodes, "!", "-o", br, "-j", "MASQUERADE"),
			ipt("-t", "filter", "-N", forwardChain),
			ipt("-t", "filter", "-A", forwardChain, "-i", br, "-j", "ACCEPT"),
			ipt("-t", "filter", "-A", forwardChain, "-o", br, "-j", "ACCEPT"),
			ipt("-t", "filter", "-A", "FORWARD", "-j", forwardChain),
		)
	}
	return append(rules, ipt("-t", "nat", "-A", "POSTROUTING", "-j", nodesChain))
}

func inNetns(path string, args ...string) []string {
	return append([]string{"nsenter", "--net=" + path, "--"}, args...)
}

func run(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// workers is the readying of the workers, started with the supervisor.
type workers struct {
	n     int
	done  chan struct{}
	names []string // the nodes Ready, node 0 left out
	err   error
}

// startWorkers readies each worker once the supervisor runs: it imports
// pause and busybox into the worker's containerd as soon as it answers,
// and once the node is Ready (the control plane is up by then) the
// add-ons' images too, where launch deploys them (their pods may land on
// any node); then it lifts the taint that kept pods off the node until
// then (and the cordon a previous stop left). The "nodes" phase ends when
// every worker is done. The waits do not take the supervisor's failures:
// the launch's own waits report them.
func startWorkers(ctx context.Context, t *tracker, plan *adapters.Plan, o Options, ctr, kubeconfig string) *workers {
	list := LoadWorkers(o.DataDir)
	w := &workers{n: len(list), done: make(chan struct{})}
	if w.n == 0 {
		close(w.done)
		return w
	}
	pause, busybox, _ := FindImages(o.ImagesDir)
	var later []string
	if !o.NoAddons && addonsOff(plan, o) == "" {
		later, _ = addons.Archives(o.ImagesDir)
	}
	cl, cerr := newClient(kubeconfig)
	end := t.begin("nodes", fmt.Sprintf("%d worker nodes Ready, their images imported", w.n))
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	ready := make([]string, len(list))
	for i, wk := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := readyWorker(ctx, t, cl, cerr, ctr, wk, []string{pause, busybox}, later)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", wk.Name, err))
			} else {
				ready[i] = wk.Name
			}
		}()
	}
	go func() {
		wg.Wait()
		w.err = errors.Join(errs...)
		for _, n := range ready {
			if n != "" {
				w.names = append(w.names, n)
			}
		}
		if ctx.Err() == nil {
			end(w.err)
		}
		close(w.done)
	}()
	return w
}

// readyWorker imports first, then waits for Ready, imports later, and
// opens the node to pods.
func readyWorker(ctx context.Context, t *tracker, cl *client, cerr error, ctr string, w Worker, first, later []string) error {
	end := t.begin("worker-images", w.Name+": import pause and busybox")
	err := waitFor(ctx, nil, func() error {
		c, e := net.Dial("unix", w.Socket)
		if e == nil {
			c.Close()
		}
		return e
	})
	for _, a := range first {
		if err == nil {
			err = images.Import(ctx, ctr, w.Socket, images.CRINamespace, a)
		}
	}
	end(err)
	if err == nil {
		err = cerr
	}
	if err == nil {
		err = waitFor(ctx, nil, func() error { return cl.nodeReady(ctx, w.Name) })
	}
	if err == nil && len(later) > 0 {
		end = t.begin("worker-addon-images", w.Name+": import the add-ons' images")
		for _, a := range later {
			if err == nil {
				err = images.Import(ctx, ctr, w.Socket, images.CRINamespace, a)
			}
		}
		end(err)
	}
	if err == nil {
		err = waitFor(ctx, nil, func() error { return cl.openNode(ctx, w.Name) })
	}
	return err
}

// waitWorkers waits until every worker is done and records all the
// nodes in the result.
func waitWorkers(ctx context.Context, failed *failure, w *workers, res *Result) error {
	if w.n == 0 {
		return nil
	}
	select {
	case <-w.done:
	case <-failed.done:
		return failed.err
	case <-ctx.Done():
		return fmt.Errorf("gave up waiting for the worker nodes: %w", ctx.Err())
	}
	if w.err != nil {
		return w.err
	}
	res.Nodes = append([]string{res.Node}, w.names...)
	return nil
}

// openNode lifts the images-pending taint and a previous stop's cordon.
func (c *client) openNode(ctx context.Context, name string) error {
	n, err := c.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var taints []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Key != upstream.ImagesPendingTaint {
			taints = append(taints, t)
		}
	}
	if len(taints) == len(n.Spec.Taints) && !n.Spec.Unschedulable {
		return nil
	}
	n.Spec.Taints, n.Spec.Unschedulable = taints, false
	_, err = c.cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	return err
}

// drainNodes drains node 0 and every worker at once (stop).
func drainNodes(ctx context.Context, cl *client, dataDir string, wait time.Duration) error {
	names := []string{nodeName(dataDir)}
	for _, w := range LoadWorkers(dataDir) {
		names = append(names, w.Name)
	}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = cl.drainNode(ctx, n, wait)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// killWorkerLeftovers kills what still runs in the workers' pod cgroups
// and the workers' containerd shims (stop, after the supervisor).
func killWorkerLeftovers(dataDir string, say func(string, ...any)) {
	workers := LoadWorkers(dataDir)
	if len(workers) == 0 {
		return
	}
	killCgroupProcesses("/"+hoststate.NodePrefix, say)
	for _, w := range workers {
		killShims(w.Socket, say)
		// A socket moved to /run for a long data dir path
		// (upstream.ContainerdSocket) is not purged with the data dir.
		if !strings.HasPrefix(w.Socket, dataDir+"/") {
			_ = os.RemoveAll(filepath.Dir(w.Socket))
		}
	}
}

// MaxNodes bounds --nodes.
const MaxNodes = upstream.MaxNodes

// nodesStatus lists node 0 and the workers of a multi-node launch (none
// for one node) and counts those Ready (status).
func nodesStatus(ctx context.Context, cl *client, dataDir, node0 string) ([]string, int) {
	workers := LoadWorkers(dataDir)
	if len(workers) == 0 {
		return nil, 0
	}
	names := []string{node0}
	for _, w := range workers {
		names = append(names, w.Name)
	}
	ready := 0
	for _, n := range names {
		if cl.nodeReady(ctx, n) == nil {
			ready++
		}
	}
	return names, ready
}
