package runspec

// What a multi-node launch (`kprobe launch --nodes N`,
// adapters/launch/nodes.go) names on the host besides what node 0's
// components make; adapters/hoststate recognises these names when it
// undoes a launch.
const (
	// NodesBridge joins the workers' veths; the host's end of the nodes'
	// network is its address.
	NodesBridge = "kprobe-nodes"
	// NodePrefix names the workers (kprobe-node-1, ...), their network
	// namespaces (/run/netns/kprobe-node-1) and their kubelets' cgroup
	// roots (/sys/fs/cgroup/*/kprobe-node-1).
	NodePrefix = "kprobe-node-"
	// NestedCgroupRootName is the kubelet's cgroup root below the
	// sandbox's own cgroup where the sandbox sees the host's cgroup tree
	// (adapters.NestedCgroupRoot; kind's /kubelet).
	NestedCgroupRootName = "kprobe-pods"
)

// FixedDirs are written by containerd, libcni and the kubelet whatever
// their configuration says (research/real-cluster.md).
var FixedDirs = []string{
	"/run/containerd", "/run/netns", "/var/lib/cni", "/var/log/containers",
	"/var/log/pods", "/var/lib/kubelet", "/etc/cni",
}
