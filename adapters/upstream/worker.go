package upstream

// Worker nodes (issue 7, `kprobe launch --nodes N`): node 0 is the node
// Render describes, on the host; nodes 1..N-1 are workers on the same
// machine, each in its own network namespace (a veth pair to the host
// bridge NodesBridge) and its own private mount namespace, with its own
// containerd, kubelet and kube-proxy and its own directories under
// DATA/nodes/I. RenderWorker renders one of them; it is pure, like Render.
//
// Address plan: the nodes' network is NodesNetwork (10.246.0.0/24, next to
// kprobe's pod range 10.244.0.0/16 and kwok's 10.245.0.0/16, clear of the
// ranges Docker, Podman, k3s, kind and minikube use): the host's end of
// the bridge is .1 and node I is .(I+1). Node I's pods get 10.244.I.0/24;
// routes, not an overlay, carry them between nodes (adapters/launch/nodes.go).

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/runspec"
)

// Address plan of a multi-node cluster.
const (
	// NodesNetwork is the private network of the host bridge NodesBridge.
	NodesNetwork = "10.246.0.0/24"
	// ClusterPodCIDR is every node's pod range together.
	ClusterPodCIDR = "10.244.0.0/16"
	// MaxNodes bounds --nodes: each worker costs about 200 MB of memory
	// (kubelet, containerd, kube-proxy), and the pod ranges 10.244.I.0/24
	// stay below kwok's 10.245.0.0/16.
	MaxNodes = 16
)

// NodesBridge is the host bridge the workers' veths are attached to.
const NodesBridge = runspec.NodesBridge

// NodeName is node i's name: node 0 keeps DefaultNodeName (kprobe-node),
// workers are kprobe-node-1, kprobe-node-2...
func NodeName(i int) string {
	if i == 0 {
		return DefaultNodeName
	}
	return runspec.NodePrefix + strconv.Itoa(i)
}

// NodeAddress is node i's address on the nodes' network; node 0's is the
// host's end of the bridge, where the workers reach the API server.
func NodeAddress(i int) string {
	a := netip.MustParsePrefix(NodesNetwork).Addr()
	for ; i >= 0; i-- {
		a = a.Next()
	}
	return a.String()
}

// NodePodCIDR is node i's pod range: node 0's is DefaultPodCIDR.
func NodePodCIDR(i int) string { return fmt.Sprintf("10.244.%d.0/24", i) }

// NodeNetnsPath is the network namespace `ip netns add` made for worker i.
func NodeNetnsPath(i int) string { return filepath.Join("/run/netns", NodeName(i)) }

// NodeCgroupRoot is the kubelet's cgroup root of worker i: two kubelets
// under the same root would each delete the other's pod cgroups as
// orphans.
func NodeCgroupRoot(i int) string { return "/" + NodeName(i) }

// isCgroupRoot: node 0's nested cgroup root (R-CGROUP-NEST) is not a
// worker's, which has its own (NodeCgroupRoot).
func isCgroupRoot(s adapters.Setting) bool { return s.Name == "cgroup-root" }

// NodeDataDir is worker i's directory under the cluster's data dir.
func NodeDataDir(dataDir string, i int) string {
	return filepath.Join(dataDir, "nodes", strconv.Itoa(i))
}

// ImagesPendingTaint keeps pods off a worker until launch has imported
// the images into its containerd (nothing can be pulled): the kubelet
// registers with it and launch removes it.
const ImagesPendingTaint = "kprobe.dev/images-pending"

// PrivateDirs are mounted as a tmpfs in each worker's mount namespace:
// the fixed host paths containerd, libcni and the kubelet write whatever
// their configuration says. Two kubelets collide on
// /var/lib/kubelet/device-plugins/kubelet.sock (a constant: the second
// removes the first's socket), and each node's pod network namespaces,
// runc state, CNI cache and log links stay its own.
var PrivateDirs = runspec.FixedDirs

// WorkerCerts are a worker's own certificates and kubeconfigs; the CA is
// the cluster's.
type WorkerCerts struct {
	CA                                     string
	KubeletServingCert, KubeletServingKey  string
	KubeletKubeconfig, KubeProxyKubeconfig string
}

// Worker is one worker node to render.
type Worker struct {
	// Index is the node's number, 1..N-1.
	Index int
	Certs WorkerCerts
}

// RenderedWorker is what a worker writes and runs. Early processes start
// with the host's containerd (the namespace holder, then containerd, so
// the images go in while the control plane boots); Late ones after the
// control plane (kubelet, kube-proxy).
type RenderedWorker struct {
	Name        string
	Files       map[string]string
	Early, Late []runspec.Process
	Socket      string
}

// RenderWorker renders worker w for plan; c is node 0's configuration
// (binaries, data dir, service range, cluster DNS).
func RenderWorker(plan *adapters.Plan, c Config, w Worker) (*RenderedWorker, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	if !plan.Worker() {
		return nil, fmt.Errorf("worker %d: the plan runs no kubelet (rung %s)", w.Index, plan.Rung)
	}
	if w.Index < 1 || w.Index >= MaxNodes {
		return nil, fmt.Errorf("worker index %d: use 1 to %d", w.Index, MaxNodes-1)
	}
	name := NodeName(w.Index)
	nc := c
	nc.DataDir = NodeDataDir(c.DataDir, w.Index)
	nc.NodeName, nc.NodeIP, nc.PodCIDR = name, NodeAddress(w.Index), NodePodCIDR(w.Index)
	nc.Certs = Certs{
		CA:                 w.Certs.CA,
		KubeletServingCert: w.Certs.KubeletServingCert, KubeletServingKey: w.Certs.KubeletServingKey,
		KubeletKubeconfig: w.Certs.KubeletKubeconfig, KubeProxyKubeconfig: w.Certs.KubeProxyKubeconfig,
	}
	sock := ContainerdSocket(nc.DataDir)
	r := &RenderedWorker{Name: name, Files: map[string]string{}, Socket: sock}
	r.Files[nc.path("containerd", "config.toml")] = containerdConfig(plan, nc, sock)
	r.Files[nc.path("cni", "net.d", "10-kprobe.conflist")] = cniConfig(nc, !plan.Has("disable-kube-proxy"))
	r.Files[nc.path("kubelet", "config.yaml")] = kubeletConfig(nc, sock) + fmt.Sprintf(`# A worker of a multi-node launch (kprobe launch --nodes).
cgroupRoot: %s
registerWithTaints:
- {key: %s, value: "true", effect: NoSchedule}
`, NodeCgroupRoot(w.Index), ImagesPendingTaint)

	holder := name + ".netns"
	ready := nc.path("run", "namespaces-ready")
	r.Early = []runspec.Process{
		{
			// Holds the node's network namespace (made by launch) and a new
			// mount namespace with PrivateDirs on tmpfs; the node's other
			// processes join both. Its mounts vanish with it.
			Name: holder, Path: "nsenter",
			Args: []string{"--net=" + NodeNetnsPath(w.Index), "--", "unshare", "--mount", "--propagation", "slave", "--",
				"sh", "-c", holderScript(name, ready)},
			Ready: runspec.Ready{File: ready, Timeout: 10 * time.Second},
			// A new holder would be a new mount namespace, without the
			// mounts the node's kubelet made: fail instead.
			NoRestart: true, StopTimeout: 2 * time.Second,
		},
		{
			Name: name + ".containerd", Path: c.Bin.Containerd, JoinNamespacesOf: holder,
			Args:   []string{"--config", nc.path("containerd", "config.toml")},
			Ready:  runspec.Ready{Socket: sock, Timeout: 30 * time.Second},
			NoWait: true, MaxRestarts: 3, StopTimeout: 10 * time.Second,
		},
	}
	// The supervisor runs on the host, so readiness is checked on the
	// node's address: the kubelet's serving port, kube-proxy's healthz.
	r.Late = append(r.Late, runspec.Process{
		Name: name + ".kubelet", Path: c.Bin.Kubelet, JoinNamespacesOf: holder,
		Args: withSettings([]string{
			"--config=" + nc.path("kubelet", "config.yaml"),
			"--kubeconfig=" + nc.Certs.KubeletKubeconfig,
			"--root-dir=" + nc.path("kubelet", "root"),
			"--cert-dir=" + nc.path("kubelet", "pki"),
			"--hostname-override=" + name,
			"--node-ip=" + nc.NodeIP,
		}, slices.DeleteFunc(plan.For(adapters.Kubelet), isCgroupRoot)),
		Ready:  runspec.Ready{TCP: nc.NodeIP + ":10250"},
		NoWait: true, MaxRestarts: 3, StopTimeout: 15 * time.Second,
	})
	if !plan.Has("disable-kube-proxy") {
		r.Late = append(r.Late, runspec.Process{
			Name: name + ".kube-proxy", Path: c.Bin.KubeProxy, JoinNamespacesOf: holder,
			// As node 0's (Render), bound in the node's namespace.
			Args: withSettings([]string{
				"--kubeconfig=" + nc.Certs.KubeProxyKubeconfig,
				"--hostname-override=" + name,
				"--proxy-mode=iptables",
				"--cluster-cidr=" + nc.PodCIDR,
				"--metrics-bind-address=127.0.0.1:10249", // the node's own loopback: see Render
				"--healthz-bind-address=" + nc.NodeIP + ":10256",
				"--conntrack-max-per-core=0",
				"--conntrack-tcp-timeout-established=0s",
				"--conntrack-tcp-timeout-close-wait=0s",
			}, plan.For(adapters.KubeProxy)),
			Ready:  runspec.Ready{TCP: nc.NodeIP + ":10256"},
			NoWait: true, MaxRestarts: 3,
		})
	}
	return r, nil
}

// holderScript mounts PrivateDirs (made on the host when missing: the
// host snapshot removes them again when empty), says it is ready and
// sleeps, holding the namespaces.
func holderScript(name, ready string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, d := range PrivateDirs {
		fmt.Fprintf(&b, "mkdir -p %[1]s && mount -t tmpfs -o mode=0755,size=64m %[2]s %[1]s\n", d, name)
	}
	fmt.Fprintf(&b, ": > %s\nexec sleep infinity\n", shellQuote(ready))
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
