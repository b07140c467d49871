package launch

import (
	"os"
	"os/exec"
	"path/filepath"
)

// NodeAgentName is the executable of the process-pod node (cmd/kprobe-node-agent).
const NodeAgentName = "kprobe-node-agent"

// FindNodeAgent returns the node agent next to the kprobe executable self
// (where make build and an install put it), else the one on PATH, else "".
func FindNodeAgent(self string) string {
	if self != "" {
		p := filepath.Join(filepath.Dir(self), NodeAgentName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	if p, err := exec.LookPath(NodeAgentName); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return ""
}

// SupervisorName is the light kprobe (cmd/kprobe built with -tags
// nocluster), which kprobe-cluster is installed beside.
const SupervisorName = "kprobe"

// FindSupervisor is the light kprobe beside self (kprobe-cluster), whose
// `supervise` runs the supervisor in about 10 MiB instead of
// kprobe-cluster's 40-60 (research/memory-floor.md, session 12); "" when
// there is none, or self is it: then self supervises.
func FindSupervisor(self string) string {
	if self == "" {
		return ""
	}
	p := filepath.Join(filepath.Dir(self), SupervisorName)
	if p == self {
		return ""
	}
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return ""
	}
	return p
}
