package supervise

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

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
	// NoWait starts the next process without waiting for this one to be
	// ready (it retries its dependencies by itself); its readiness is still
	// checked and recorded, and a failure still fails the start.
	NoWait bool `json:"noWait,omitempty"`
	// JoinNamespacesOf names an earlier process of the spec whose network
	// and mount namespaces this one runs in (through nsenter): a worker
	// node's containerd, kubelet and kube-proxy join the node's namespace
	// holder (adapters/upstream/worker.go).
	JoinNamespacesOf string `json:"joinNamespacesOf,omitempty"`
}

// Spec is what a launch runs.
type Spec struct {
	Engine    string    `json:"engine"`
	DataDir   string    `json:"dataDir"`
	Processes []Process `json:"processes"`
	// Shims are applied by `kprobe supervise` in the private mount
	// namespace it is started in (Detach with shims.NamespaceAttr) before the
	// processes start; they vanish with it.
	Shims []string `json:"shims,omitempty"`
}

// Layout names the files of a data dir the supervisor uses.
type Layout struct{ DataDir string }

func (l Layout) RunDir() string         { return filepath.Join(l.DataDir, "run") }
func (l Layout) SpecPath() string       { return filepath.Join(l.RunDir(), "spec.json") }
func (l Layout) StatePath() string      { return filepath.Join(l.RunDir(), "state.json") }
func (l Layout) LockPath() string       { return filepath.Join(l.RunDir(), "lock") }
func (l Layout) LogDir() string         { return filepath.Join(l.DataDir, "logs") }
func (l Layout) Log(name string) string { return filepath.Join(l.LogDir(), name+".log") }

// WriteSpec stores the spec for the supervisor.
func WriteSpec(s *Spec) error {
	l := Layout{s.DataDir}
	if err := os.MkdirAll(l.RunDir(), 0o755); err != nil {
		return err
	}
	if len(s.Processes) == 0 {
		return errors.New("spec has no process")
	}
	for _, p := range s.Processes {
		if p.Name == "" || p.Path == "" {
			return fmt.Errorf("process %q has no name or path", p.Name)
		}
	}
	return writeJSON(l.SpecPath(), s)
}

// ReadSpec loads the spec of a data dir.
func ReadSpec(dataDir string) (*Spec, error) {
	var s Spec
	if err := readJSON(Layout{dataDir}.SpecPath(), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
