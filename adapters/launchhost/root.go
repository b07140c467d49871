package launchhost

import (
	"fmt"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

// NeedsRoot says, in one line, why this user cannot launch rung with
// engine ("auto" when not chosen yet), or nil. The worker rungs (T0-T2:
// the kubelet, containerd and runc mount, make cgroups and set sysctls)
// and the k3s engine need root; the control plane alone (T3) and process
// pods (TP) run as any user, with every port above 1024 and no host
// change. A non-root worker launch failed half-way with "fork/exec
// .../kprobe: operation not permitted"; it now stops before starting
// anything.
func NeedsRoot(euid int, rung profiles.Rung, engine string) error {
	worker := rung == profiles.T0 || rung == profiles.T1 || rung == profiles.T2
	if euid == 0 || (!worker && engine != adapters.EngineK3s) {
		return nil
	}
	what := "rung " + string(rung)
	if !worker {
		what = "the k3s engine"
	}
	return fmt.Errorf("kprobe launch needs root for %s: it runs the kubelet, containerd and runc, which need root (mounts, cgroups, sysctls; this is uid %d): run it as root, or `kprobe launch --rung TP --data-dir ~/.kprobe` for process pods as this user",
		what, euid)
}
