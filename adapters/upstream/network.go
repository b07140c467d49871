package upstream

// The address plan of a process-pod cluster (TP): pods share the
// sandbox's network, where no address can be added without
// CAP_NET_ADMIN but every address of 127.0.0.0/8 is local. So Services
// take their ClusterIPs from a loopback range the node agent's proxy
// (adapters/svcproxy) listens on, and the cluster DNS is one of them.
const (
	ProcessPodsServiceCIDR = "127.96.0.0/12"
	ProcessPodsClusterDNS  = "127.96.0.10"
)

// ClusterDNSFor is the cluster DNS address of a launch: the loopback one
// when pods run as processes.
func ClusterDNSFor(processPods bool) string {
	if processPods {
		return ProcessPodsClusterDNS
	}
	return DefaultClusterDNS
}
