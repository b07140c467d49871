package podnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// KubeletVersion is what the node reports as its kubelet version: the
// version of the control plane it is built against, so that version-skew
// checks pass, with a suffix that says it is not a kubelet.
const KubeletVersion = "v1.37.2-kprobe-process-pods"

// Config is the node agent's configuration (the flags of kprobe-node-agent).
type Config struct {
	Kubeconfig   string
	NodeName     string
	DataDir      string
	NodeIP       string // the address the node reports; empty: the first global address, else 127.0.0.1
	Listen       string // kubelet API address; empty: NodeIP:10250
	TLSCertFile  string
	TLSKeyFile   string
	ClientCAFile string
	Isolation    Isolation // "" or auto: the best that works here
	ImagesDir    string    // archives to preload
	MaxPods      int
	// Pod networking (network.go, adapters/svcproxy): pod IPs from
	// PodCIDR, resolv.conf naming ClusterDNS, and the Service proxy,
	// which runs with ProxyKubeconfig (kube-proxy's identity) when set.
	PodCIDR, ClusterDNS, ClusterDomain, ProxyKubeconfig string
	// ServiceCIDR holds the ClusterIPs: where the sandbox lets nobody
	// listen below 1024, pods' connects to them there are moved to where
	// the proxy listens (bindtrace.Shift).
	ServiceCIDR string

	// Images is the image store; nil opens the default store under DataDir/images.
	Images Images
	// Log receives one line per notable agent event; nil discards them.
	Log func(format string, a ...any)
}

// Run registers the node and serves its pods until ctx ends. Every pod's
// processes are stopped before it returns.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	if cfg.NodeName == "" || cfg.DataDir == "" || cfg.Kubeconfig == "" {
		return errors.New("podnode: --kubeconfig, --node-name and --data-dir are required")
	}
	if cfg.MaxPods <= 0 {
		cfg.MaxPods = 110
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = defaultNodeIP()
	}
	ip := net.ParseIP(cfg.NodeIP)
	if ip == nil {
		return fmt.Errorf("podnode: --node-ip %q is not an IP address", cfg.NodeIP)
	}
	if cfg.Listen == "" {
		cfg.Listen = net.JoinHostPort(cfg.NodeIP, "10250")
	}
	_, portText, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("podnode: --listen %q: %w", cfg.Listen, err)
	}
	port, _ := strconv.Atoi(portText)

	iso, why, err := ChooseIsolation(cfg.Isolation, filepath.Join(cfg.DataDir, "probe"))
	if err != nil {
		return err
	}
	cfg.Log("isolation %s: %s", iso, why)

	restCfg, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("podnode: kubeconfig: %w", err)
	}
	// The kubelet's own limits (kubeAPIQPS 50, kubeAPIBurst 100), not
	// client-go's 5 and 10: a pod's start is a token request, a ConfigMap
	// read, four events and status updates, and at 5 a second the second
	// pod of a Deployment waited for the first one's requests.
	restCfg.QPS, restCfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	if cfg.Images == nil {
		return errors.New("podnode: no image store")
	}

	pc := providerConfig{
		client:    client,
		nodeName:  cfg.NodeName,
		nodeIP:    cfg.NodeIP,
		apiServer: restCfg.Host,
		dataDir:   cfg.DataDir,
		isolation: iso,
		images:    cfg.Images,
		log:       cfg.Log,
	}
	if err := startNetwork(ctx, cfg, &pc); err != nil {
		return err
	}
	prov, err := newProvider(pc)
	if err != nil {
		return err
	}
	defer prov.shutdown()

	mux := http.NewServeMux()
	n, err := nodeutil.NewNode(cfg.NodeName,
		func(pc nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
			prov.setListers(pc)
			fillNodeSpec(pc.Node, cfg, iso, port)
			return prov, nil, nil
		},
		nodeutil.WithClient(client),
		func(nc *nodeutil.NodeConfig) error {
			nc.HTTPListenAddr = cfg.Listen
			nc.NumWorkers = 4
			nc.InformerResyncPeriod = time.Minute
			nc.StreamIdleTimeout = 4 * time.Hour
			nc.StreamCreationTimeout = 30 * time.Second
			return nil
		},
		nodeutil.AttachProviderRoutes(mux),
		nodeutil.WithTLSConfig(
			nodeutil.WithKeyPairFromPath(cfg.TLSCertFile, cfg.TLSKeyFile),
			nodeutil.WithCAFromPath(cfg.ClientCAFile),
			func(t *tls.Config) error { t.ClientAuth = tls.RequestClientCert; return nil },
		),
		withAuth(client, cfg, mux),
	)
	if err != nil {
		return fmt.Errorf("podnode: %w", err)
	}

	prov.preload(ctx, cfg.ImagesDir)
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	select {
	case <-n.Ready():
		cfg.Log("node %s ready at %s (kubelet API %s)", cfg.NodeName, cfg.NodeIP, cfg.Listen)
	case err := <-errc:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("podnode: node: %v", err)
	}
	err = <-errc
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// withAuth puts the kubelet's authentication in front of the API: client
// certificates from the client CA (the API server's kubelet client), bearer
// tokens through TokenReview, every request authorised by
// SubjectAccessReview on the node's subresources, as a kubelet in webhook
// mode does.
func withAuth(client kubernetes.Interface, cfg Config, mux *http.ServeMux) nodeutil.NodeOpt {
	return func(nc *nodeutil.NodeConfig) error {
		ca, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca", cfg.ClientCAFile)
		if err != nil {
			return fmt.Errorf("client CA: %w", err)
		}
		auth, err := nodeutil.WebhookAuth(client, cfg.NodeName, func(wc *nodeutil.WebhookAuthConfig) error {
			wc.AuthnConfig.ClientCertificateCAContentProvider = ca
			return nil
		})
		if err != nil {
			return err
		}
		nc.Handler = nodeutil.WithAuth(auth, mux)
		return nil
	}
}

// fillNodeSpec sets what the node reports: addresses, capacity from /proc,
// labels, node info and the kubelet endpoint.
func fillNodeSpec(n *corev1.Node, cfg Config, iso Isolation, port int) {
	n.Labels["kubernetes.io/os"] = "linux"
	n.Labels["kubernetes.io/arch"] = runtime.GOARCH
	n.Labels["node.kubernetes.io/process-pods"] = "true"
	delete(n.Labels, "kubernetes.io/role")
	n.Labels["type"] = "process-pods"
	capacity := nodeCapacity(cfg.DataDir, cfg.MaxPods)
	n.Status.Capacity = capacity
	n.Status.Allocatable = capacity
	host, _ := os.Hostname()
	n.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: cfg.NodeIP},
		{Type: corev1.NodeHostName, Address: cfg.NodeName},
	}
	if host != "" && host != cfg.NodeName {
		n.Annotations = map[string]string{"kprobe.io/sandbox-hostname": host}
	}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	n.Status.NodeInfo = corev1.NodeSystemInfo{
		KubeletVersion:          KubeletVersion,
		ContainerRuntimeVersion: "kprobe-process://" + string(iso),
		OperatingSystem:         "linux",
		Architecture:            runtime.GOARCH,
		KernelVersion:           kernelVersion(),
		OSImage:                 osImage(),
		MachineID:               readTrim("/etc/machine-id"),
		BootID:                  readTrim("/proc/sys/kernel/random/boot_id"),
	}
	now := metav1.Now()
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "starting"},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID"},
		{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "HostNetwork", Message: "process pods share the sandbox's network"},
	}
	for i := range conds {
		conds[i].LastHeartbeatTime, conds[i].LastTransitionTime = now, now
	}
	n.Status.Conditions = conds
}

// defaultNodeIP is the first global unicast address of an interface that is
// up, else 127.0.0.1 (sandboxes with only lo).
func defaultNodeIP() string {
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(trimSpace(b))
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
