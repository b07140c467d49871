package launch

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/kprobe/kprobe/adapters"
)

// netpolPreflight keeps the plan honest where kube-network-policies cannot
// run as planned: its binary is missing (built by `make engine`, not part
// of `kprobe install kubernetes`), or extra nodes run in network
// namespaces of their own where only node 0 would enforce, or the kernel
// refuses the nftables queue rule it writes (no nft_queue: the scan does
// not probe for it yet, so the binary's own --probe asks the kernel).
func netpolPreflight(plan *adapters.Plan, bin string, nodes int) {
	switch {
	case !plan.EnforcesNetworkPolicy():
	case bin == "":
		plan.DisableNetworkPolicy("kube-network-policies was not found in --bin-dir, kprobe's bin/engine dir or PATH (hack/netpol/build.sh bin/engine builds it)")
	case nodes > 1:
		plan.DisableNetworkPolicy(fmt.Sprintf("--nodes %d: kube-network-policies runs on node 0 only, so the other nodes' pods would not be filtered", nodes))
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, bin, "--probe").CombinedOutput(); err != nil {
			plan.DisableNetworkPolicy(fmt.Sprintf("this kernel refuses the nftables queue rule kube-network-policies writes (%s --probe: %s; the nft_queue module is missing)",
				bin, strings.TrimSpace(firstLine(string(out), err))))
		}
	}
}

func firstLine(out string, err error) string {
	if l, _, _ := strings.Cut(strings.TrimSpace(out), "\n"); l != "" {
		return l
	}
	return err.Error()
}
