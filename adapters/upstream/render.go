package upstream

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/runspec"
)

// Defaults of the cluster's address plan.
const (
	DefaultServiceCIDR = "10.96.0.0/12"
	DefaultPodCIDR     = "10.244.0.0/24"
	DefaultClusterDNS  = "10.96.0.10"
	DefaultNodeName    = "kprobe-node"
	PauseImage         = "registry.k8s.io/pause:3.10.1"
	BridgeName         = "kprobe0"
	// CNINetwork names the pods' CNI network (libcni caches results
	// under /var/lib/cni/results as <network>-<container>-<ifname>).
	CNINetwork = "kprobe"
)

// Binaries are the resolved paths of every program the engine runs.
type Binaries struct {
	Etcd, Containerd, Runc, APIServer, ControllerManager, Scheduler, Kubelet, KubeProxy string
	// ControlPlane is kube-control-plane (ControlPlaneProcessName), which
	// runs the API server, the controller manager and the scheduler in one
	// process; "" when absent: then the three run as their own programs.
	ControlPlane string
	// ControlPlaneRunsNode: this ControlPlane also runs the kubelet and
	// kube-proxy (its --components lists them), so node 0's run in its
	// process too (a build from before has only the three).
	ControlPlaneRunsNode bool
	// ControlPlaneRunsNetworkPolicies: with ControlPlaneRunsNode, this
	// ControlPlane also runs the NetworkPolicy enforcer (its --components
	// lists kube-network-policies), so node 0's runs in its process too.
	// NetworkPolicies still answers --probe and stands in where it cannot.
	ControlPlaneRunsNetworkPolicies bool
	// NetworkPolicies is the NetworkPolicy enforcer (hack/netpol builds
	// it); "" when absent: the launcher then plans without enforcement.
	NetworkPolicies string
	// NetworkPolicyQueue is how the enforcer's first packets reach its
	// nfqueue, as its --probe answered: NetworkPolicyQueueNFT (its own
	// nftables table) or NetworkPolicyQueueIptables (an iptables NFQUEUE
	// rule, where nf_tables cannot queue).
	NetworkPolicyQueue string
	// CNIDir holds the bridge, host-local, portmap and loopback plugins.
	CNIDir string
}

// Certs are the paths of the cluster's certificates and kubeconfigs.
type Certs struct {
	CA, CAKey                             string
	APIServerCert, APIServerKey           string
	KubeletClientCert, KubeletClientKey   string // apiserver -> kubelet
	KubeletServingCert, KubeletServingKey string
	SAPub, SAKey                          string
	// etcd's own CA and certificates (adapters/pki): every etcd port is
	// TLS with client-certificate authentication.
	EtcdCA                                          string
	EtcdServerCert, EtcdServerKey                   string
	EtcdPeerCert, EtcdPeerKey                       string
	APIServerEtcdClientCert, APIServerEtcdClientKey string
	AdminKubeconfig, ControllerManagerKubeconfig, SchedulerKubeconfig,
	KubeletKubeconfig, KubeProxyKubeconfig string
}

// Config is everything Render needs besides the plan.
type Config struct {
	DataDir  string
	Bin      Binaries
	Certs    Certs
	NodeName string
	NodeIP   string
	APIPort  int
	// PortOffset is added to the default ports (API, etcd, controller
	// manager, scheduler, node agent): a second control plane beside
	// another (launch --port-offset).
	PortOffset int
	// BindAddress is kube-apiserver's --bind-address; default 127.0.0.1.
	// A specific address other than loopback is also the one the API
	// server advertises (the kubernetes Service's endpoint), so that pods
	// reach it there.
	BindAddress string
	EtcdPort    int
	ServiceCIDR string
	PodCIDR     string
	ClusterDNS  string
	// ResolvConf is the kubelet's resolv.conf for pods.
	ResolvConf string
	// ProtectKernelDefaults: launch has set the kubelet's kernel tunables
	// itself (hoststate.ApplyKubeletSysctls), so the kubelet only checks
	// them (protectKernelDefaults) instead of writing them behind the
	// host journal's back.
	ProtectKernelDefaults bool
	// NodeAgent is the kprobe-node-agent executable that runs the
	// process-pod node at TP.
	NodeAgent string
	// ImagesDir holds the image archives the node agent preloads.
	ImagesDir string
}

// Rendered is what a launch writes and runs.
type Rendered struct {
	// Files maps absolute paths to contents.
	Files     map[string]string
	Processes []runspec.Process
	// Socket is containerd's address.
	Socket string
}

func (c *Config) defaults() error {
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		return fmt.Errorf("data dir %q must be an absolute path", c.DataDir)
	}
	if c.NodeName == "" {
		c.NodeName = DefaultNodeName
	}
	if net.ParseIP(c.NodeIP) == nil {
		return fmt.Errorf("node IP %q is not an IP address", c.NodeIP)
	}
	if c.APIPort == 0 {
		c.APIPort = 6443 + c.PortOffset
	}
	if c.BindAddress == "" {
		c.BindAddress = "127.0.0.1"
	}
	if net.ParseIP(c.BindAddress) == nil {
		return fmt.Errorf("bind address %q is not an IP address", c.BindAddress)
	}
	if c.EtcdPort == 0 {
		c.EtcdPort = 2379 + c.PortOffset
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = DefaultServiceCIDR
	}
	if c.PodCIDR == "" {
		c.PodCIDR = DefaultPodCIDR
	}
	if c.ClusterDNS == "" {
		c.ClusterDNS = DefaultClusterDNS
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	return nil
}

// securePort is --secure-port for a component whose default port is
// def, moved by the port offset; none at the default.
func (c *Config) securePort(def int) []string {
	if c.PortOffset == 0 {
		return nil
	}
	return []string{fmt.Sprintf("--secure-port=%d", def+c.PortOffset)}
}

// Path joins elements under the data dir.
func (c *Config) path(elem ...string) string {
	return filepath.Join(append([]string{c.DataDir}, elem...)...)
}

// ContainerdSocket is containerd's socket under the data dir, or under
// /run when the data dir's path is too long for a unix socket (108 bytes).
func ContainerdSocket(dataDir string) string {
	p := filepath.Join(dataDir, "containerd", "containerd.sock")
	if len(p) < 100 {
		return p
	}
	return filepath.Join("/run", "kprobe-"+shortHash(dataDir), "containerd.sock")
}

func shortHash(s string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return fmt.Sprintf("%08x", h)
}

// APIHost is where local clients reach the API server bound to bind:
// the address itself, or loopback when it binds every address.
func APIHost(bind string) string {
	if ip := net.ParseIP(bind); ip == nil || ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return bind
}

// advertiseAddress is the API server's --advertise-address: the bind
// address when it is a specific one pods can reach, else the node's.
func (c *Config) advertiseAddress() string {
	if ip := net.ParseIP(c.BindAddress); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		return c.BindAddress
	}
	return c.NodeIP
}

// AuthenticationConfig is kube-apiserver's --authentication-config:
// anonymous requests only to the health endpoints, every other request
// needs credentials (--anonymous-auth=false would refuse the health
// checks of probes and load balancers as well).
const AuthenticationConfig = `# Written by kprobe launch: anonymous requests reach the health endpoints only.
apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
anonymous:
  enabled: true
  conditions:
  - path: /livez
  - path: /readyz
  - path: /healthz
`

// Render turns a plan into files and processes.
func Render(plan *adapters.Plan, c Config) (*Rendered, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	r := &Rendered{Files: map[string]string{}, Socket: ContainerdSocket(c.DataDir)}
	agent := plan.Worker()
	if plan.ProcessPods() && c.NodeAgent == "" {
		return nil, fmt.Errorf("process pods (%s) need the kprobe-node-agent executable", plan.Rung)
	}
	r.Files[c.path("apiserver", "authentication-config.yaml")] = AuthenticationConfig
	if agent {
		r.Files[c.path("containerd", "config.toml")] = containerdConfig(plan, c, r.Socket)
		// Masquerading needs the iptables nat table, which a plan without
		// kube-proxy says is not usable.
		r.Files[c.path("cni", "net.d", "10-kprobe.conflist")] = cniConfig(c, !plan.Has("disable-kube-proxy"))
		r.Files[c.path("kubelet", "config.yaml")] = kubeletConfig(c, r.Socket)
	}
	if agent {
		r.Processes = append(r.Processes, runspec.Process{
			Name: "containerd", Path: c.Bin.Containerd,
			Args:   []string{"--config", c.path("containerd", "config.toml")},
			Ready:  runspec.Ready{Socket: r.Socket, Timeout: 30 * time.Second},
			NoWait: true, MaxRestarts: 3, StopTimeout: 10 * time.Second,
		})
	}
	etcdURL := fmt.Sprintf("https://127.0.0.1:%d", c.EtcdPort)
	peerURL := fmt.Sprintf("https://127.0.0.1:%d", c.EtcdPort+1)
	r.Processes = append(r.Processes,
		runspec.Process{
			Name: "etcd", Path: c.Bin.Etcd,
			Args: []string{
				"--name=kprobe", "--data-dir=" + c.path("etcd"),
				"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
				"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
				"--initial-cluster=kprobe=" + peerURL,
				// Every port TLS with client certificates of etcd's own CA
				// (adapters/pki): etcd holds every Secret, and a local user
				// must not reach it. No metrics listener: it would be
				// plain HTTP.
				"--cert-file=" + c.Certs.EtcdServerCert, "--key-file=" + c.Certs.EtcdServerKey,
				"--client-cert-auth", "--trusted-ca-file=" + c.Certs.EtcdCA,
				"--peer-cert-file=" + c.Certs.EtcdPeerCert, "--peer-key-file=" + c.Certs.EtcdPeerKey,
				"--peer-client-cert-auth", "--peer-trusted-ca-file=" + c.Certs.EtcdCA,
				// etcd keeps every raft entry in memory until a snapshot
				// truncates its log; the default 100,000 entries is hours
				// of a small cluster's writes and about 0.5 GB. One member
				// has no follower to catch up (research/stability.md).
				"--snapshot-count=1000",
			},
			// The supervisor stops in reverse order, so etcd goes after the
			// apiserver: an apiserver whose store vanished first takes
			// minutes to exit and keeps its port (real-cluster.md).
			// /health needs a client certificate now, so readiness is the
			// open port; the API server's /readyz checks etcd itself.
			Ready: runspec.Ready{TCP: fmt.Sprintf("127.0.0.1:%d", c.EtcdPort), Timeout: 30 * time.Second}, MaxRestarts: 3,
		})
	if agent {
		// The kubelet starts with the API server, not after its /readyz:
		// its own start (cgroups, plugins, containerd) overlaps the API
		// server's and it registers the node as soon as the API answers
		// (it retries the API by itself). It does exit when containerd's
		// socket does not answer, so it waits for containerd's readiness
		// (research/api-start.md).
		r.Processes = append(r.Processes, runspec.Process{
			Name: "kubelet", Path: c.Bin.Kubelet,
			Args: withSettings([]string{
				"--config=" + c.path("kubelet", "config.yaml"),
				"--kubeconfig=" + c.Certs.KubeletKubeconfig,
				"--root-dir=" + c.path("kubelet", "root"),
				"--cert-dir=" + c.path("kubelet", "pki"),
				"--hostname-override=" + c.NodeName,
				"--node-ip=" + c.NodeIP,
			}, plan.For(adapters.Kubelet)),
			Ready:  runspec.Ready{HTTP: "http://127.0.0.1:10248/healthz"},
			NoWait: true, After: []string{"containerd"}, MaxRestarts: 3, StopTimeout: 15 * time.Second,
		})
	}
	r.Processes = append(r.Processes, controlPlane(plan, c, etcdURL)...)
	if agent {
		if !plan.Has("disable-kube-proxy") {
			// Flags, not --config: with a config file kube-proxy ignores
			// every flag but logging, and the plan's settings are flags.
			r.Processes = append(r.Processes, runspec.Process{
				Name: "kube-proxy", Path: c.Bin.KubeProxy,
				Args: withSettings([]string{
					"--kubeconfig=" + c.Certs.KubeProxyKubeconfig,
					"--hostname-override=" + c.NodeName,
					"--proxy-mode=iptables",
					"--cluster-cidr=" + c.PodCIDR,
					// kube-proxy's metrics server has no authentication
					// (/metrics, /configz, /flagz, read-only) and cannot be
					// turned off in v1.37: an empty address fails its
					// validation ("must be IP:port"). Loopback only, where
					// launch lets only the cluster's uid connect
					// (hoststate.OwnerOnly).
					"--metrics-bind-address=" + net.JoinHostPort(KubeProxyMetricsHost, strconv.Itoa(KubeProxyMetricsPort)),
					"--healthz-bind-address=127.0.0.1:10256",
					// Leave the host's conntrack sysctls alone, as k3s does:
					// 0 means "do not change" for each of them.
					"--conntrack-max-per-core=0",
					"--conntrack-tcp-timeout-established=0s",
					"--conntrack-tcp-timeout-close-wait=0s",
				}, plan.For(adapters.KubeProxy)),
				Ready:  runspec.Ready{TCP: "127.0.0.1:10256"},
				NoWait: true, MaxRestarts: 3,
			})
		}
		if plan.EnforcesNetworkPolicy() {
			r.Processes = append(r.Processes, NetworkPolicyProcess(c.Bin.NetworkPolicies, c.Certs.AdminKubeconfig, c.NodeName, c.PortOffset, c.Bin.NetworkPolicyQueue, c.PodCIDR))
		}
	}
	if plan.ProcessPods() {
		r.Processes = append(r.Processes, nodeAgent(plan, c))
	}
	if c.Bin.ControlPlane != "" && c.Bin.ControlPlaneRunsNode {
		r.Processes = withNodeInControlPlane(r.Processes, c.Bin.ControlPlaneRunsNetworkPolicies)
	}
	for i := range r.Processes {
		r.Processes[i].Env = append(r.Processes[i].Env, goEnv(r.Processes[i])...)
	}
	return r, nil
}

// nodeComponents are the node's components kube-control-plane runs beside
// the control plane where ControlPlaneRunsNode says it can.
var nodeComponents = []string{"kubelet", "kube-proxy"}

// withNodeInControlPlane moves node 0's kubelet and kube-proxy, and with
// netpol its NetworkPolicy enforcer, into the kube-control-plane process
// as more sections. Each was a program of 40-90 MiB resident, more than
// half of it the pages of its own copy of the Kubernetes libraries and the
// Go runtime, which the one process maps once (research/memory-floor.md).
// The process then waits for containerd's readiness, as the kubelet did
// (it exits without containerd's socket); the kubelet, kube-proxy and the
// enforcer start with the API server inside it and retry the API
// themselves, as they did in their own processes.
func withNodeInControlPlane(ps []runspec.Process, netpol bool) []runspec.Process {
	cp := slices.IndexFunc(ps, func(p runspec.Process) bool { return p.Name == ControlPlaneProcessName })
	if cp < 0 {
		return ps
	}
	var out []runspec.Process
	var moved []runspec.Process
	for _, p := range ps {
		if slices.Contains(nodeComponents, p.Name) || netpol && p.Name == NetworkPolicyProcessName {
			moved = append(moved, p)
			continue
		}
		out = append(out, p)
	}
	cp = slices.IndexFunc(out, func(p runspec.Process) bool { return p.Name == ControlPlaneProcessName })
	for _, p := range moved {
		out[cp].Args = append(append(out[cp].Args, "--", p.Name), p.Args...)
		for _, a := range p.After {
			if !slices.Contains(out[cp].After, a) {
				out[cp].After = append(out[cp].After, a)
			}
		}
		out[cp].StopTimeout = max(out[cp].StopTimeout, p.StopTimeout)
	}
	return out
}

// RunsComponent says whether process p runs component (kube-proxy, the
// kubelet...): as its own program, or as a section of kube-control-plane.
func RunsComponent(p runspec.Process, component string) bool {
	return p.Name == component || slices.Contains(components(p), component)
}

// components are the components a kube-control-plane process runs, in
// the order of its sections.
func components(p runspec.Process) []string {
	var got []string
	for _, sec := range sections(p) {
		got = append(got, sec[0])
	}
	return got
}

// ComponentArgs are the arguments process p gives component: its own
// program's, or its section's of kube-control-plane; nil when p does not
// run component.
func ComponentArgs(p runspec.Process, component string) []string {
	if p.Name == component {
		return p.Args
	}
	for _, sec := range sections(p) {
		if sec[0] == component {
			return sec[1:]
		}
	}
	return nil
}

// sections splits a kube-control-plane process's arguments at each "--"
// (withNodeInControlPlane and controlPlane write them so): each section is
// a component's name and then its arguments. nil for any other process.
func sections(p runspec.Process) [][]string {
	if p.Name != ControlPlaneProcessName {
		return nil
	}
	var out [][]string
	start := 0
	for i := 0; i <= len(p.Args); i++ {
		if i == len(p.Args) || p.Args[i] == "--" {
			if i > start {
				out = append(out, p.Args[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// ComponentCommand is the command line that runs component alone with
// args from process p's program: `kube-proxy --cleanup` from kube-proxy's
// own or kube-control-plane's.
func ComponentCommand(p runspec.Process, component string, args ...string) (string, []string) {
	if p.Name == ControlPlaneProcessName {
		return p.Path, append([]string{component}, args...)
	}
	return p.Path, args
}

// ControlPlaneProcessName is the supervised process of kube-control-plane
// (hack/engine/cmd/kube-control-plane): kube-apiserver,
// kube-controller-manager and kube-scheduler in one process.
const ControlPlaneProcessName = "kube-control-plane"

// controlPlane is kube-apiserver, kube-controller-manager and
// kube-scheduler: one process of c.Bin.ControlPlane where there is one,
// else three. In one process the three map one copy of the Kubernetes
// libraries and the Go runtime instead of three (file pages were 58 % of
// their resident memory: research/memory-floor.md), and the controller
// manager and the scheduler start once the API server is ready, inside
// the process, without a process start of their own. The process's
// readiness is the API server's /readyz; its log holds the three
// components' lines, which the API server's log signatures read.
func controlPlane(plan *adapters.Plan, c Config, etcdURL string) []runspec.Process {
	ps := []runspec.Process{
		{
			Name: "kube-apiserver", Path: c.Bin.APIServer,
			Args:        withSettings(apiserverArgs(c, etcdURL), plan.For(adapters.KubeAPIServer)),
			Ready:       runspec.Ready{HTTP: "https://" + net.JoinHostPort(APIHost(c.BindAddress), fmt.Sprint(c.APIPort)) + "/readyz", Timeout: 90 * time.Second},
			MaxRestarts: 3, StopTimeout: 15 * time.Second, RestartsBeforeReady: APIServerRestartsBeforeReady,
		},
		{
			Name: "kube-controller-manager", Path: c.Bin.ControllerManager,
			Args: withSettings(append(append(localComponentArgs(c.Certs.ControllerManagerKubeconfig),
				"--root-ca-file="+c.Certs.CA,
				"--service-account-private-key-file="+c.Certs.SAKey,
				"--cluster-signing-cert-file="+c.Certs.CA, "--cluster-signing-key-file="+c.Certs.CAKey,
				"--use-service-account-credentials=true",
				"--service-cluster-ip-range="+c.ServiceCIDR,
				// Lift the new node's not-ready taint within a second of
				// Ready instead of five: pods are scheduled sooner.
				"--node-monitor-period=1s",
				// With per-controller credentials the manager creates a
				// service account and token for each of ~40 controllers
				// before any runs; at the default 20 QPS that alone takes
				// about 5 s.
				"--kube-api-qps=200", "--kube-api-burst=400",
			), c.securePort(10257)...), plan.For(adapters.KubeControllerManager)),
			Ready:  runspec.Ready{HTTP: fmt.Sprintf("https://127.0.0.1:%d/healthz", 10257+c.PortOffset)},
			NoWait: true, MaxRestarts: 3,
		},
		{
			Name: "kube-scheduler", Path: c.Bin.Scheduler,
			Args:   withSettings(append(localComponentArgs(c.Certs.SchedulerKubeconfig), c.securePort(10259)...), plan.For(adapters.KubeScheduler)),
			Ready:  runspec.Ready{HTTP: fmt.Sprintf("https://127.0.0.1:%d/healthz", 10259+c.PortOffset)},
			NoWait: true, MaxRestarts: 3,
		},
	}
	if c.Bin.ControlPlane == "" {
		return ps
	}
	api := ps[0]
	args := append([]string{"kube-apiserver"}, api.Args...)
	args = append(append(args, "--", "kube-controller-manager"), ps[1].Args...)
	args = append(append(args, "--", "kube-scheduler"), ps[2].Args...)
	return []runspec.Process{{
		Name: ControlPlaneProcessName, Path: c.Bin.ControlPlane, Args: args,
		Ready: api.Ready, MaxRestarts: 3, StopTimeout: api.StopTimeout, RestartsBeforeReady: api.RestartsBeforeReady,
	}}
}

// APIServerRestartsBeforeReady is how often the supervisor starts
// kube-apiserver (or kube-control-plane) again when it exits before its
// first /readyz. Its post-start hook start-service-ip-repair-controllers
// gives the first repair a fixed minute (time.After(time.Minute) in
// k8s.io/kubernetes pkg/registry/core/rest/storage_core.go, no flag), and
// a failed hook exits the process 255; in a VM without KVM, with etcd's
// requests running into their deadlines, one of three launches ended so
// (test/zoo/README.md). The second start finds etcd warm and its
// objects made. Twice, not until stop: an API server that cannot start
// at all still fails the launch, with its log.
const APIServerRestartsBeforeReady = 2

// localComponentArgs are the flags the controller manager and the
// scheduler share: one kubeconfig for the API and for checking their own
// callers, their port on loopback, and no leader election (one member).
func localComponentArgs(kubeconfig string) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1", "--leader-elect=false",
	}
}

// goMemoryLimits is each component's GOMEMLIMIT: a soft limit on the Go
// runtime's memory above which the collector runs more often. Each is a
// little above what the component's heap and stacks hold on an idle
// single node after `kprobe verify` (research/memory-floor.md), so that it
// only trims the garbage a busy moment left; the collector never spends
// more than about half the CPU to keep under it, so a cluster that needs
// more still gets it.
// kube-control-plane's is the sum of its components'.
var goMemoryLimits = map[string]int{ // MiB
	"kube-apiserver":          160,
	"kube-controller-manager": 48,
	"kube-scheduler":          24,
	"kubelet":                 32,
	"kube-proxy":              16,
	"containerd":              24,
	"etcd":                    48,
	"node-agent":              48,
}

// goEnv is the Go runtime's setting for a component (every one is a Go
// program). Their resident memory is mostly heap the collector lets grow
// to twice what is live (GOGC=100); at 50 it collects at one and a half,
// for a little more CPU on a cluster that idles (issue 13's 450 MB at TP,
// issue 17's 500 MiB at T0; research/process-pods-host.md and
// research/memory-floor.md have the measurements).
func goEnv(p runspec.Process) []string {
	env := []string{"GOGC=50"}
	limit := goMemoryLimits[p.Name]
	for _, c := range components(p) {
		limit += goMemoryLimits[c]
	}
	if limit > 0 {
		env = append(env, fmt.Sprintf("GOMEMLIMIT=%dMiB", limit))
	}
	if p.Name == ControlPlaneProcessName {
		env = append(env, fmt.Sprintf("%s=%d", settledMemoryLimitEnv, controlPlaneSettledMemoryLimit<<20))
	}
	return env
}

// settledMemoryLimitEnv is kube-control-plane's Go memory limit once its
// components have started (hack/engine/cmd/kube-control-plane
// SettledMemoryLimitEnv); GOMEMLIMIT, the sum of its components', holds
// during the start, whose allocations a lower limit would slow.
const settledMemoryLimitEnv = "KUBE_CONTROL_PLANE_SETTLED_GOMEMLIMIT"

// controlPlaneSettledMemoryLimit (MiB) is a little above what
// kube-control-plane running the API server, the controller manager, the
// scheduler, the kubelet, kube-proxy and the NetworkPolicy enforcer holds
// after `kprobe verify` when only GOGC=50 paces its collector: about 216
// MiB (121 MB live heap, 170-180 MB of heap spans in use, 26 MB of
// stacks, the runtime's own). It only trims what a burst left. It was 176
// MiB (session 12), which is below that: the collector's goal fell to the
// live heap and it ran back to back, 16 collections a second and about
// 1.6 of the 2 cores, for as long as the cluster idled
// (research/memory-floor.md, session 13). A limit near the live heap
// saves resident memory only by burning CPU, and a cluster whose live
// heap grows crosses any fixed one: keep this one well above it.
const controlPlaneSettledMemoryLimit = 224

// KubeProxyMetricsHost and KubeProxyMetricsPort are where node 0's
// kube-proxy serves its metrics, without authentication.
const (
	KubeProxyMetricsHost = "127.0.0.1"
	KubeProxyMetricsPort = 10249
)

// NodeAgentPort is where the node agent serves the kubelet API (logs,
// exec, attach, port-forward), the kubelet's port.
const NodeAgentPort = 10250

// nodeAgent is kprobe's process-pod node (kprobe-node-agent) with the
// kubelet's credentials: it registers the node as system:node:NAME and
// serves the kubelet API with the kubelet's serving certificate to
// clients the cluster CA signed (the API server).
func nodeAgent(plan *adapters.Plan, c Config) runspec.Process {
	args := []string{
		"--kubeconfig=" + c.Certs.KubeletKubeconfig,
		"--node-name=" + c.NodeName,
		"--data-dir=" + c.path("node-agent"),
		"--node-ip=" + c.NodeIP,
		"--tls-cert-file=" + c.Certs.KubeletServingCert,
		"--tls-private-key-file=" + c.Certs.KubeletServingKey,
		"--client-ca-file=" + c.Certs.CA,
	}
	if c.ImagesDir != "" {
		args = append(args, "--images-dir="+c.ImagesDir)
	}
	// Pod addresses, the cluster DNS and the Service proxy's identity
	// (kube-proxy's: adapters/svcproxy).
	args = append(args, "--cluster-dns="+c.ClusterDNS, "--cluster-domain=cluster.local", "--pod-cidr="+c.PodCIDR, "--service-cidr="+c.ServiceCIDR,
		"--proxy-kubeconfig="+c.Certs.KubeProxyKubeconfig)
	listen := net.JoinHostPort(c.NodeIP, fmt.Sprint(NodeAgentPort+c.PortOffset))
	if c.PortOffset != 0 {
		args = append(args, "--listen="+listen)
	}
	return runspec.Process{
		Name: "node-agent", Path: c.NodeAgent,
		Args:   withSettings(args, plan.For(adapters.NodeAgent)),
		Ready:  runspec.Ready{TCP: listen, Timeout: 60 * time.Second},
		NoWait: true, MaxRestarts: 3, StopTimeout: 15 * time.Second,
	}
}

func apiserverArgs(c Config, etcdURL string) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--etcd-cafile=" + c.Certs.EtcdCA,
		"--etcd-certfile=" + c.Certs.APIServerEtcdClientCert, "--etcd-keyfile=" + c.Certs.APIServerEtcdClientKey,
		"--bind-address=" + c.BindAddress, fmt.Sprintf("--secure-port=%d", c.APIPort),
		"--advertise-address=" + c.advertiseAddress(),
		"--authentication-config=" + c.path("apiserver", "authentication-config.yaml"),
		"--service-cluster-ip-range=" + c.ServiceCIDR,
		"--client-ca-file=" + c.Certs.CA,
		"--tls-cert-file=" + c.Certs.APIServerCert, "--tls-private-key-file=" + c.Certs.APIServerKey,
		"--kubelet-client-certificate=" + c.Certs.KubeletClientCert,
		"--kubelet-client-key=" + c.Certs.KubeletClientKey,
		"--kubelet-certificate-authority=" + c.Certs.CA,
		"--service-account-key-file=" + c.Certs.SAPub,
		"--service-account-signing-key-file=" + c.Certs.SAKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=Node,RBAC",
		// Reach kubelets by IP: sandboxes rarely resolve the node's name.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--profiling=false",
		// One node's few clients need no per-tenant queues: the plain
		// in-flight limits (400 reads, 200 writes) apply instead, and the
		// priority-and-fairness controller, its queues and its
		// goroutines are not started.
		"--enable-priority-and-fairness=false",
	}
}

// withSettings appends a component's plan settings as --name=value flags;
// a later flag overrides an earlier one in every Kubernetes component.
func withSettings(args []string, ss []adapters.Setting) []string {
	for _, s := range ss {
		args = append(args, "--"+s.Name+"="+s.Value)
	}
	return args
}

func containerdConfig(plan *adapters.Plan, c Config, sock string) string {
	snap := "overlayfs"
	if v, ok := plan.Get(adapters.Cluster, "snapshotter"); ok {
		snap = v
	}
	if snap == "fuse-overlayfs" {
		// containerd has no built-in fuse-overlayfs snapshotter (k3s
		// bundles one; Debian's containerd would need a proxy plugin):
		// native works wherever fuse-overlayfs would, only slower.
		snap = "native"
	}
	var cri strings.Builder
	for _, s := range plan.For(adapters.Containerd) {
		fmt.Fprintf(&cri, "  %s = %s\n", s.Name, tomlValue(s.Value))
	}
	runc := ""
	if c.Bin.Runc != "" {
		runc = fmt.Sprintf("        BinaryName = %q\n", c.Bin.Runc)
	}
	return fmt.Sprintf(`# Written by kprobe launch; the plan records why each setting is here.
version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
%s
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = %q
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
%s
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, c.path("containerd", "root"), c.path("containerd", "state"), sock, sock+".ttrpc",
		c.path("containerd", "opt"), PauseImage, cri.String(), snap, runc,
		c.Bin.CNIDir, c.path("cni", "net.d"))
}

// tomlValue writes booleans and integers bare and anything else quoted.
func tomlValue(v string) string {
	switch v {
	case "true", "false":
		return v
	}
	allDigits := v != ""
	for _, r := range v {
		allDigits = allDigits && r >= '0' && r <= '9'
	}
	if allDigits {
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func cniConfig(c Config, masquerade bool) string {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       CNINetwork,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": BridgeName, "isGateway": true, "ipMasq": masquerade, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": c.PodCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": c.path("cni", "ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	return string(b) + "\n"
}

func kubeletConfig(c Config, sock string) string {
	return fmt.Sprintf(`# Written by kprobe launch. Flags from the plan override these values.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
volumePluginDir: %s
staticPodPath: ""
clusterDNS: [%s]
clusterDomain: cluster.local
resolvConf: %s
serializeImagePulls: false
tlsCertFile: %s
tlsPrivateKeyFile: %s
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
protectKernelDefaults: %t
`, c.NodeIP, sock, c.path("logs", "pods"), c.path("kubelet", "volume-plugins"), c.ClusterDNS, c.ResolvConf,
		c.Certs.KubeletServingCert, c.Certs.KubeletServingKey, c.Certs.CA, c.ProtectKernelDefaults)
}

// NetworkPolicyProcessName is the supervised enforcer's name; stop runs
// its --cleanup.
const NetworkPolicyProcessName = "kube-network-policies"

// The enforcer's queue paths (hack/netpol --probe prints one).
const (
	NetworkPolicyQueueNFT      = "nft"
	NetworkPolicyQueueIptables = "iptables"
)

// NetworkPolicyProcess runs kube-network-policies for node: it diverts the
// first packet of each connection to a pod into nfqueue and drops what
// the policies deny. The packets get there through its nf_tables table
// (inet kube-network-policies), or with queue NetworkPolicyQueueIptables
// through an NFQUEUE rule in the mangle chain KPROBE-NETPOL for the pods
// of podCIDR. It opens no port (hack/netpol/main.go), so it has no
// readiness endpoint. On the iptables path the queue rules carry
// --queue-bypass: while no enforcer listens (restarting, or killed before
// it removed its chain) pod connections pass unjudged instead of being
// dropped; on the nft path (no --fail-open) upstream's table keeps
// queueing the pods a policy selects, which then drop until it is back. It reads NetworkPolicies, Namespaces and Pods of
// every namespace, which no node identity may, hence the admin kubeconfig.
// A cluster of --port-offset N gets queue 100+N and a table and chain of
// its own.
func NetworkPolicyProcess(bin, kubeconfig, node string, portOffset int, queue, podCIDR string) runspec.Process {
	args := []string{"--kubeconfig=" + kubeconfig, "--hostname-override=" + node}
	if portOffset != 0 {
		args = append(args, fmt.Sprintf("--nfqueue-id=%d", 100+portOffset), fmt.Sprintf("--nftables-table=kube-network-policies-%d", portOffset),
			fmt.Sprintf("--iptables-chain=KPROBE-NETPOL-%d", portOffset))
	}
	if queue == NetworkPolicyQueueIptables {
		args = append(args, "--queue-path=iptables", "--pod-cidr="+podCIDR)
	}
	return runspec.Process{
		Name: NetworkPolicyProcessName, Path: bin, Args: args,
		NoWait: true, MaxRestarts: 3, StopTimeout: 10 * time.Second,
	}
}

// NetworkPolicyCleanupArgs are the arguments that delete the table and
// the chain the enforcer started with args fills.
func NetworkPolicyCleanupArgs(args []string) []string {
	out := []string{"--cleanup"}
	for _, a := range args {
		if strings.HasPrefix(a, "--nftables-table=") || strings.HasPrefix(a, "--iptables-chain=") {
			out = append(out, a)
		}
	}
	return out
}
