package launch

import (
	"fmt"
	"os"

	"github.com/kprobe/kprobe/adapters"
)

// rootPreflight stops a launch by a user who is not root before anything
// starts, when the plan's rung needs root: the kubelet, containerd and
// runc (T0-T2) mount, make cgroups and set sysctls. The control plane and
// process pods (TP, T3) need none of it: every port is above 1024 and no
// sysctl, mount or iptables rule is changed, so they run as any user.
func rootPreflight(plan *adapters.Plan, agent bool) error {
	if !agent || os.Geteuid() == 0 {
		return nil
	}
	return &PreflightError{[]string{fmt.Sprintf("rung %s runs the kubelet, containerd and runc, which need root (mounts, cgroups, sysctls; this is uid %d): run kprobe launch as root, or `kprobe launch --rung TP --data-dir ~/.kprobe` for process pods as this user",
		plan.Rung, os.Geteuid())}}
}
