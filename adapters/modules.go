package adapters

import (
	"fmt"
	"strings"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/kernel"
	"github.com/kprobe/kprobe/profiles"
)

// BrNetfilter is the module that makes bridged traffic pass through
// iptables: without it a pod reaching a Service whose endpoint sits on
// the same CNI bridge gets no answer (kube-proxy's DNAT is never seen on
// the way back). Distribution kernels build it as a module that nothing
// loads until someone asks: k3s runs modprobe br_netfilter (and overlay)
// at start (pkg/agent/syssetup), kubeadm's guide has the user do it.
const BrNetfilter = "br_netfilter"

// bridgeNFPresent is the scan's fact for br_netfilter's sysctl.
const bridgeNFPresent = "sysctl.net.bridge.bridge-nf-call-iptables.present"

// bridgeChecks are the verify checks that send pod traffic to a Service
// whose endpoint may sit on the same bridge (networkpolicy is added where
// the plan enforces NetworkPolicy).
var bridgeChecks = []string{"service", "dns", "replicas"}

// planModules decides whether launch loads br_netfilter (Plan.Modules)
// and, where the kernel lacks it and it cannot be loaded, says in the
// notes which verify checks cannot pass. It concerns the rungs where pods
// sit on a bridge behind kube-proxy (T0, T1).
func planModules(plan *Plan, f probes.Facts) {
	if plan.Rung != profiles.T0 && plan.Rung != profiles.T1 || !plan.Worker() {
		return
	}
	if f.Tri(bridgeNFPresent) != probes.No {
		return // loaded or built in, or the scan cannot tell
	}
	why := whyNoModuleLoad(f)
	if why == "" {
		plan.Modules = append(plan.Modules, BrNetfilter)
		plan.Notes = append(plan.Notes, "br_netfilter is a module of this kernel that nothing has loaded (net.bridge.bridge-nf-call-iptables is absent): launch loads it, as k3s does at start, so that pod traffic on the bridge passes kube-proxy's rules, and records it in the host journal; stop unloads it when nothing else uses it")
		return
	}
	checks := append([]string(nil), bridgeChecks...)
	if plan.EnforcesNetworkPolicy() {
		checks = append(checks, "networkpolicy")
	}
	plan.Notes = append(plan.Notes, fmt.Sprintf("net.bridge.bridge-nf-call-iptables is absent and launch cannot load br_netfilter (%s): a pod reaching a Service whose endpoint is on the same bridge gets no answer, so verify's %s checks cannot pass; on the host: modprobe br_netfilter",
		why, strings.Join(checks, ", ")))
}

// whyNoModuleLoad says why launch cannot load br_netfilter, or "" when it
// can: the kernel has it as a module file (depmod's lists), the scan runs
// with CAP_SYS_MODULE, and not in a user namespace (the kernel checks the
// capability in the initial one).
func whyNoModuleLoad(f probes.Facts) string {
	switch f.String("kernel.br_netfilter") {
	case kernel.ModuleFile:
	case kernel.ModuleAbsent:
		return "this kernel has no br_netfilter, built in or as a module"
	default:
		return "the running kernel's /lib/modules cannot be read here"
	}
	switch {
	case f.Tri("priv.userns") != probes.No:
		return "kprobe runs in a user namespace, where no module can be loaded"
	case f.Tri("priv.cap_sys_module") != probes.Yes:
		return "CAP_SYS_MODULE is not in the effective set"
	}
	return ""
}
