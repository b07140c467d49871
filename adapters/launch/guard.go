package launch

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/hoststate"
	"github.com/kprobe/kprobe/adapters/runspec"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// guardKubeProxyMetrics lets only the cluster's uid connect to
// kube-proxy's metrics port on loopback (docs/security.md): it has no
// authentication and v1.37 cannot turn it off. The rule is the host
// journal's (its chain is new since the snapshot), so stop deletes it.
// Where no rule can be added (no iptables, no owner match) the plan says
// that the port answers every local user.
func guardKubeProxyMetrics(ctx context.Context, plan *adapters.Plan) {
	err := hoststate.OwnerOnly(ctx, upstream.KubeProxyMetricsHost, upstream.KubeProxyMetricsPort, os.Geteuid())
	if err != nil {
		addr := net.JoinHostPort(upstream.KubeProxyMetricsHost, strconv.Itoa(upstream.KubeProxyMetricsPort))
		plan.Notes = append(plan.Notes, fmt.Sprintf("kube-proxy's metrics server on %s answers every local user (no rule could keep them off: %v)", addr, err))
	}
}

// runsKubeProxy says whether node 0 runs kube-proxy (Render leaves it out
// with disable-kube-proxy and without a kubelet), as its own program or
// inside kube-control-plane.
func runsKubeProxy(ps []runspec.Process) bool {
	return slices.ContainsFunc(ps, func(p runspec.Process) bool { return upstream.RunsComponent(p, "kube-proxy") })
}
