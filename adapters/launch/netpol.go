package launch

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// netpolPreflight keeps the plan honest where kube-network-policies cannot
// run as planned: its binary is missing (built by `make engine`, not part
// of `kprobe install kubernetes`), or extra nodes run in network
// namespaces of their own where only node 0 would enforce, or the kernel
// can queue packets neither through nf_tables (nft_queue) nor through
// iptables' NFQUEUE target. The binary's own --probe asks the kernel and
// names the path that works; netpolPreflight returns it ("" when the plan
// enforces nothing) and notes it in the plan.
func netpolPreflight(plan *adapters.Plan, bin string, nodes int) string {
	switch {
	case !plan.EnforcesNetworkPolicy():
	case bin == "":
		plan.DisableNetworkPolicy("kube-network-policies was not found in --bin-dir, kprobe's bin/engine dir or PATH (hack/netpol/build.sh bin/engine builds it)")
	case nodes > 1:
		plan.DisableNetworkPolicy(fmt.Sprintf("--nodes %d: kube-network-policies runs on node 0 only, so the other nodes' pods would not be filtered", nodes))
	default:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "--probe")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		path := strings.TrimSpace(string(out))
		switch {
		case err != nil:
			plan.DisableNetworkPolicy(fmt.Sprintf("this kernel queues packets to kube-network-policies neither through nf_tables (the nft_queue module is missing) nor through iptables' NFQUEUE target (%s --probe: %s)",
				bin, firstLine(stderr.String(), err)))
		case path == upstream.NetworkPolicyQueueNFT:
			plan.Notes = append(plan.Notes, "kube-network-policies queues first packets through its nf_tables table (inet kube-network-policies): the kernel has nft_queue")
			return path
		case path == upstream.NetworkPolicyQueueIptables:
			plan.Notes = append(plan.Notes, "kube-network-policies queues first packets through an iptables NFQUEUE rule (mangle chain KPROBE-NETPOL, pods' connections only): this kernel's nf_tables has no queue (nft_queue missing), its xtables NFQUEUE target works")
			return path
		default:
			plan.DisableNetworkPolicy(fmt.Sprintf("%s --probe answered %q, not nft or iptables: an older enforcer? (hack/netpol/build.sh bin/engine builds it)", bin, firstLine(path, nil)))
		}
	}
	return ""
}

func firstLine(out string, err error) string {
	if l, _, _ := strings.Cut(strings.TrimSpace(out), "\n"); l != "" || err == nil {
		return l
	}
	return err.Error()
}
