package adapters

import (
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// outerEngineRoute offers the sibling-container route where the scan
// reached a container engine's socket from inside the sandbox
// (net.engine_sockets, finding KP-NET-019) and the plan is below T0: kind
// or k3d started through that socket run their nodes as containers beside
// the sandbox, with the outer engine's rights, at T0 whatever the sandbox
// itself allows (issue #18: Codespaces' docker-outside-of-docker). kprobe
// does not drive that route; the note says what does.
func outerEngineRoute(plan *Plan, f probes.Facts) {
	if f.Tri("net.engine_sockets") != probes.Yes || plan.Rung == profiles.T0 {
		return
	}
	plan.Notes = append(plan.Notes, "a container engine's socket outside this sandbox accepts connections (KP-NET-019; kprobe scan names it): "+
		"a cluster of sibling containers started through it runs at T0 beside the sandbox, with that engine's rights (root on the machine behind it): "+
		"kind create cluster, or k3d cluster create; kprobe does not drive that route")
}
