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
