package app

import (
	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/profiles"
)

// chooseEngine resolves --engine for a plan or launch that starts at rung,
// the one place plan and launch pick it. A rung without a kubelet (TP,
// T3) needs only the kubernetes engine's control plane (no containerd,
// runc, ctr or CNI plugins). auto takes the kubernetes engine for process
// pods (TP), which run beside it only, when it is installed; else k3s
// when installed; else the kubernetes engine when what the rung runs is
// installed. An engine named by --engine must be installed.
func chooseEngine(want, binDir string, rung profiles.Rung) (string, error) {
	k3sErr := launchhost.FindK3s(binDir)
	_, _, upErr := launchhost.FindUpstream(binDir)
	if rung == profiles.TP || rung == profiles.T3 {
		upErr = launchhost.ControlPlaneOnly(upErr)
	}
	switch want {
	case adapters.EngineK3s:
		if k3sErr != nil {
			return "", badInput("%v", k3sErr)
		}
		return want, nil
	case adapters.EngineKubernetes:
		if upErr != nil {
			return "", badInput("%v", upErr)
		}
		return want, nil
	}
	switch {
	case rung == profiles.TP && upErr == nil:
		return adapters.EngineKubernetes, nil
	case k3sErr == nil:
		return adapters.EngineK3s, nil
	case upErr == nil:
		return adapters.EngineKubernetes, nil
	}
	return "", badInput("no engine installed here can run %s:\n  k3s: %v\n  kubernetes: %v", rung, k3sErr, upErr)
}
