package launch

import (
	"net"
	"strings"

	"github.com/kprobe/kprobe/adapters/upstream"
)

// noProxyEnv is what the cluster's processes get when the launch runs
// with HTTPS_PROXY / HTTP_PROXY set (a web IDE's proxy, so that
// containerd pulls through it): NO_PROXY and no_proxy extended by the
// cluster's own addresses, so that the kubelet's and kube-proxy's calls to
// the API server and the API server's to the kubelet (logs, exec) stay
// off the proxy, which may not reach them, as k3s does. getenv is
// os.Getenv in production.
func noProxyEnv(getenv func(string) string, own ...string) []string {
	proxied := false
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		proxied = proxied || getenv(k) != ""
	}
	if !proxied {
		return nil
	}
	var list []string
	seen := map[string]bool{}
	for _, v := range []string{getenv("NO_PROXY"), getenv("no_proxy"), strings.Join(own, ",")} {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !seen[e] {
				seen[e] = true
				list = append(list, e)
			}
		}
	}
	v := strings.Join(list, ",")
	return []string{"NO_PROXY=" + v, "no_proxy=" + v}
}

// clusterAddresses are the addresses and names the cluster's own traffic
// goes to: loopback, the node and API addresses, the nodes' network, the
// pod and Service ranges, and the Service DNS suffixes.
func clusterAddresses(nodeIP, bind, serviceCIDR string) []string {
	if serviceCIDR == "" {
		serviceCIDR = upstream.DefaultServiceCIDR
	}
	own := []string{"localhost", "127.0.0.1", nodeIP}
	if ip := net.ParseIP(bind); ip != nil && !ip.IsUnspecified() {
		own = append(own, bind)
	}
	return append(own, upstream.NodesNetwork, upstream.ClusterPodCIDR, serviceCIDR, ".svc", ".cluster.local")
}
