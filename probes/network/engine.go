package network

import (
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/kprobe/kprobe/probes"
)

// CodeOuterEngine: the sandbox can talk to the container engine outside it.
var CodeOuterEngine = probes.Code{Code: "KP-NET-019", Severity: probes.Info,
	Title:   "an outer container engine's socket is reachable",
	Meaning: "A Docker, containerd or podman socket is mounted into this sandbox and accepts connections (Codespaces' docker-outside-of-docker, a CI job with the host's docker.sock): a cluster of sibling containers started through it (kind, k3d) runs beside the sandbox with the outer engine's rights, at T0, whatever rung the sandbox itself reaches. kprobe does not drive that route.",
	Fix:     "to run the cluster as sibling containers through this socket: kind create cluster (or k3d cluster create); the socket gives root on the machine behind it, so mount it only where that is intended"}

// EngineSockets are the usual places of a container engine's API socket.
var EngineSockets = []string{
	"var/run/docker.sock", "run/docker.sock",
	"run/containerd/containerd.sock", "var/run/containerd/containerd.sock",
	"run/podman/podman.sock",
}

// outerEngine reports the engine sockets of EngineSockets that exist
// and accept a connection, dialled under dialRoot ("/" when scanning; a
// replayed capture has no sockets to dial, so it says unknown).
func outerEngine(env *probes.Env, o *probes.Observation, dialRoot string) {
	if env.Replay {
		o.Set("net.engine_sockets", probes.Unknown)
		return
	}
	reachable := []string{}
	for _, p := range EngineSockets {
		st, err := fs.Stat(env.Root, p)
		if err != nil || st.Mode()&fs.ModeSocket == 0 {
			continue
		}
		c, err := net.DialTimeout("unix", filepath.Join(dialRoot, p), time.Second)
		if err != nil {
			o.Note("/"+p, "socket present, connect failed", err)
			continue
		}
		c.Close()
		reachable = append(reachable, "/"+p)
	}
	o.Set("net.engine_sockets", probes.TriOf(len(reachable) > 0))
	if len(reachable) > 0 {
		o.Find(CodeOuterEngine, "a container engine socket accepts connections: "+strings.Join(reachable, ", "),
			probes.Evidence{Source: "connect(AF_UNIX)", Excerpt: strings.Join(reachable, ", ")})
	}
}
