package hoststate

import (
	"path/filepath"
	"strings"

	"github.com/kprobe/kprobe/adapters/runspec"
)

// What a multi-node launch (`kprobe launch --nodes N`,
// adapters/launch/nodes.go) makes on the host besides what node 0's
// components make. Undo removes each of them that is new since the
// snapshot: the names are kprobe's own, so nothing of the host's matches.
const (
	// NodesBridge joins the workers' veths (runspec names it for the
	// renderer).
	NodesBridge = runspec.NodesBridge
	// NodeVethPrefix names the host end of each worker's veth pair
	// (kprobe-veth1, ...); the other end is eth0 in the worker's netns.
	NodeVethPrefix = "kprobe-veth"
	// NodePrefix names the workers, their network namespaces and their
	// kubelets' cgroup roots (runspec.NodePrefix).
	NodePrefix = runspec.NodePrefix
	// ChainPrefix starts the iptables chains launch adds itself (the
	// nodes' masquerading and forwarding rules).
	ChainPrefix = "KPROBE-"
)

// ourLink says whether a new link is the cluster's: the CNI bridge, the
// stand-in address's veth, a pod's veth, the nodes' bridge or a worker's
// veth.
func ourLink(l string, sc Scope) bool {
	return l == sc.Bridge || l == NodesBridge ||
		strings.HasPrefix(l, DummyLink) || strings.HasPrefix(l, "veth") || strings.HasPrefix(l, NodeVethPrefix)
}

// ourNetns says whether a new /run/netns entry is the cluster's: a pod's
// (CNI) or a worker node's.
func ourNetns(n string) bool {
	return strings.HasPrefix(n, "cni-") || strings.HasPrefix(n, NodePrefix)
}

// nodeCgroupRoots lists the workers' cgroup roots, in every v1 hierarchy
// and in the unified one.
func nodeCgroupRoots() []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + NodePrefix + "*")
	more, _ := filepath.Glob("/sys/fs/cgroup/" + NodePrefix + "*")
	return append(roots, more...)
}
