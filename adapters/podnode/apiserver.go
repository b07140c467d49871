package podnode

import (
	"net"
	"net/url"
)

// inClusterEnv is how a pod's in-cluster clients find the API server: the
// `kubernetes` Service's variables (client-go's rest.InClusterConfig reads
// KUBERNETES_SERVICE_HOST and _PORT), pointed at the address the agent
// itself reaches the API server at (apiServer, its kubeconfig's server
// URL), because the Service's ClusterIP does not route for process pods
// (no kube-proxy). Pods share the node's network, so that address works
// from a pod too; the token, CA and namespace come from the pod's
// projected service-account volume, as on a kubelet's node.
func inClusterEnv(apiServer string) []string {
	u, err := url.Parse(apiServer)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	addr := "tcp://" + net.JoinHostPort(host, port)
	return []string{
		"KUBERNETES_SERVICE_HOST=" + host,
		"KUBERNETES_SERVICE_PORT=" + port,
		"KUBERNETES_SERVICE_PORT_HTTPS=" + port,
		"KUBERNETES_PORT=" + addr,
		"KUBERNETES_PORT_443_TCP=" + addr,
		"KUBERNETES_PORT_443_TCP_PROTO=tcp",
		"KUBERNETES_PORT_443_TCP_ADDR=" + host,
		"KUBERNETES_PORT_443_TCP_PORT=" + port,
	}
}
