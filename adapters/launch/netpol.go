package launch

import (
	"fmt"

	"github.com/kprobe/kprobe/adapters"
)

// netpolPreflight keeps the plan honest where kube-network-policies cannot
// run as planned: its binary is missing (built by `make engine`, not part
// of `kprobe install kubernetes`), or extra nodes run in network
// namespaces of their own where only node 0 would enforce.
func netpolPreflight(plan *adapters.Plan, bin string, nodes int) {
	switch {
	case !plan.EnforcesNetworkPolicy():
	case bin == "":
		plan.DisableNetworkPolicy("kube-network-policies was not found in --bin-dir, kprobe's bin/engine dir or PATH (hack/netpol/build.sh bin/engine builds it)")
	case nodes > 1:
		plan.DisableNetworkPolicy(fmt.Sprintf("--nodes %d: kube-network-policies runs on node 0 only, so the other nodes' pods would not be filtered", nodes))
	}
}
