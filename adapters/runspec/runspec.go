// Package runspec is the neutral description of what a launch runs and
// names on the host. The renderers (adapters/upstream, adapters/k3s) write
// it; the executing packages (adapters/supervise runs the processes,
// adapters/hoststate undoes what they leave) read it. It executes
// nothing, so a renderer can import it and stay a pure function of the
// plan.
package runspec

import "time"

// Ready says how to tell that a process is up. The first non-empty field
// is used; an empty Ready means "started is ready".
type Ready struct {
	// TCP is a host:port that accepts connections.
	TCP string `json:"tcp,omitempty"`
	// Socket is a unix socket path that accepts connections.
	Socket string `json:"socket,omitempty"`
	// HTTP is a URL that must answer 200 (https is not verified: it checks
	// liveness, the launcher checks the API with the cluster CA).
	HTTP string `json:"http,omitempty"`
	// File is a path the process creates once it is ready; the supervisor
	// removes it before each start.
	File string `json:"file,omitempty"`
	// Timeout bounds the wait; 0 means 60 s.
	Timeout time.Duration `json:"timeout,omitempty"`
}

func (r Ready) String() string {
	switch {
	case r.TCP != "":
		return "tcp " + r.TCP
	case r.Socket != "":
		return "socket " + r.Socket
	case r.HTTP != "":
		return r.HTTP
	case r.File != "":
		return "file " + r.File
	}
	return "started"
}

// WaitFor is how long the supervisor waits for readiness: Timeout, or 60 s.
func (r Ready) WaitFor() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return 60 * time.Second
}

// Process is one component the supervisor runs.
type Process struct {
	Name  string   `json:"name"`
	Path  string   `json:"path"`
	Args  []string `json:"args"`
	Env   []string `json:"env,omitempty"`
	Ready Ready    `json:"ready"`
	// StopTimeout is how long SIGTERM is given before SIGKILL; 0 means 10 s.
	StopTimeout time.Duration `json:"stopTimeout,omitempty"`
	// NoRestart: an unexpected exit is final (the process is Failed).
	// Every other process is restarted with back-off until stop.
	NoRestart bool `json:"noRestart,omitempty"`
	// MaxRestarts is no longer read: restarts go on, with back-off, until
	// stop (as the kubelet restarts containers). Kept so that renderers
	// and saved specs that set it still build and decode.
	MaxRestarts int `json:"maxRestarts,omitempty"`
	// RestartsBeforeReady is how many times an exit before the process
	// was first ready is answered by starting it again; the exit after
	// that fails the start. 0: the first such exit fails it. It is for a
	// component whose own start can give up on a slow machine and succeed
	// on a second try (kube-apiserver's post-start hooks wait a fixed
	// time: adapters/upstream), not for one that cannot start at all.
	RestartsBeforeReady int `json:"restartsBeforeReady,omitempty"`
	// NoWait starts the next process without waiting for this one to be
	// ready (it retries its dependencies by itself); its readiness is still
	// checked and recorded, and a failure still fails the start.
	NoWait bool `json:"noWait,omitempty"`
	// After names earlier processes of the spec that must be ready (their
	// Ready check passed) before this one is started. It is the gate of a
	// process that exits when a dependency is missing instead of retrying
	// it (the kubelet without containerd's socket), so that it can start
	// early in the order without racing what it needs.
	After []string `json:"after,omitempty"`
	// JoinNamespacesOf names an earlier process of the spec whose network
	// and mount namespaces this one runs in (through nsenter): a worker
	// node's containerd, kubelet and kube-proxy join the node's namespace
	// holder (adapters/upstream/worker.go).
	JoinNamespacesOf string `json:"joinNamespacesOf,omitempty"`
}
