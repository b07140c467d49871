package supervise

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kprobe/kprobe/adapters/runspec"
)

// Ready and Process are the renderers' neutral process specs
// (adapters/runspec); the supervisor runs them.
type (
	Ready   = runspec.Ready
	Process = runspec.Process
)

// Spec is what a launch runs.
type Spec struct {
	Engine    string    `json:"engine"`
	DataDir   string    `json:"dataDir"`
	Processes []Process `json:"processes"`
	// Shims are applied by `kprobe supervise` in the private mount
	// namespace it is started in (Detach with shims.NamespaceAttr) before the
	// processes start; they vanish with it.
	Shims []string `json:"shims,omitempty"`
	// ReadyBy is the launch's deadline (its --wait): a component still
	// busy starting when its own readiness limit passes is waited for up
	// to then (progress.go). Zero: each limit is final.
	ReadyBy time.Time `json:"readyBy,omitzero"`
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
	earlier := map[string]bool{}
	for _, p := range s.Processes {
		if p.Name == "" || p.Path == "" {
			return fmt.Errorf("process %q has no name or path", p.Name)
		}
		for _, a := range p.After {
			if !earlier[a] {
				return fmt.Errorf("process %q starts after %q, which is not an earlier process of the spec", p.Name, a)
			}
		}
		earlier[p.Name] = true
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
