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

// SupervisorNames are the programs beside kprobe-cluster whose
// `supervise` runs the supervisor, best first: kprobe-supervisor
// (cmd/kprobe-supervisor, the supervisor alone: about 9 MiB resident),
// then the light kprobe (cmd/kprobe built with -tags nocluster: about 23).
var SupervisorNames = []string{"kprobe-supervisor", "kprobe"}

// FindSupervisor is the first of SupervisorNames beside self
// (kprobe-cluster), which holds less memory for the cluster's lifetime
// than kprobe-cluster's 40-60 MiB (research/memory-floor.md, sessions 12
// and 13); "" when there is none, or self is it: then self supervises.
func FindSupervisor(self string) string {
	if self == "" {
		return ""
	}
	for _, n := range SupervisorNames {
		p := filepath.Join(filepath.Dir(self), n)
		if p == self {
			return ""
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}
