package adapters

import (
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// Rule is one row of the adaptation table: a condition on facts (and on
// the rung being planned) and what to set when it holds. Rules are data;
// Build applies them in order.
type Rule struct {
	// Code is the stable reason code carried by everything the rule sets.
	Code string
	// When decides on the facts; nil means always.
	When func(f probes.Facts) bool
	// Rungs limits the rule to these rungs of the ladder; empty means
	// every rung (T2-only rules disable kube-proxy, T3 disables the agent).
	Rungs     []profiles.Rung
	Settings  []Setting
	Shims     []Shim
	Rationale string
	Source    string
}

func layoutIs(values ...string) func(probes.Facts) bool {
	return func(f probes.Facts) bool {
		l := f.String("cgroups.layout")
		for _, v := range values {
			if l == v {
				return true
			}
		}
		return false
	}
}

// Rules is the adaptation table. Order matters only when two rules set
// the same key: the later one wins.
var Rules = []Rule{
	{
		Code:  "R-T2-NO-PROXY",
		Rungs: []profiles.Rung{profiles.T2},
		Settings: []Setting{
			{Component: Cluster, Name: "disable-kube-proxy", Value: "true"},
			{Component: Cluster, Name: "disable-network-policy", Value: "true"},
			{Component: Cluster, Name: "flannel-backend", Value: "none"},
		},
		Rationale: "T2 runs the worker without kube-proxy, network policy or flannel (no usable iptables)",
		Source:    "research prior-art.md §0 fallback ladder",
	},
	{
		Code:  "R-T3-AGENTLESS",
		Rungs: []profiles.Rung{profiles.T3},
		Settings: []Setting{
			{Component: Cluster, Name: "disable-agent", Value: "true"},
			{Component: Cluster, Name: "disable-kube-proxy", Value: "true"},
			{Component: Cluster, Name: "disable-network-policy", Value: "true"},
			{Component: Cluster, Name: "flannel-backend", Value: "none"},
		},
		Rationale: "T3 runs the control plane only: no container can start here, kubectl and helm --dry-run=server still work",
		Source:    "k3s-io/docs advanced.md, Agentless servers; prior-art.md §2.4",
	},
	{
		Code: "R-CGROUP-V1",
		When: layoutIs("v1", "hybrid"),
		Settings: []Setting{
			{Component: Kubelet, Name: "fail-cgroupv1", Value: "false"},
		},
		Rationale: "since 1.35 the kubelet refuses cgroup v1 hosts unless failCgroupV1 is false",
		Source:    "research/real-cluster.md failure 2; kubernetes pkg/kubelet/apis/config failCgroupV1",
	},
	{
		Code: "R-OOM-SCORE",
		When: func(f probes.Facts) bool { return f.Tri("priv.cap_sys_resource") == probes.No },
		Settings: []Setting{
			{Component: Containerd, Name: "restrict_oom_score_adj", Value: "true"},
		},
		Rationale: "without CAP_SYS_RESOURCE runc cannot set the sandbox's oom_score_adj -998 (\"can't get final child's PID from pipe: EOF\"); containerd then clamps it",
		Source:    "research/real-cluster.md failure 1",
	},
	{
		Code: "R-SWAP",
		When: func(f probes.Facts) bool { n, ok := f.Int("res.swap_bytes"); return ok && n > 0 },
		Settings: []Setting{
			{Component: Kubelet, Name: "fail-swap-on", Value: "false"},
		},
		Rationale: "the kubelet refuses to start with swap on unless failSwapOn is false",
		Source:    "kubernetes KubeletConfiguration failSwapOn",
	},
}
