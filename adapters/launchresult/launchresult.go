// Package launchresult holds what a launch records (run/launch.json,
// run/attempts.json) and what `kprobe status` shows, as plain data:
// adapters/launch produces it, reports renders it. It imports no
// Kubernetes client library, so that the commands which only render a
// launch (`kprobe report`, `kprobe scan`) do not link one.
package launchresult

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/profiles"
)

// Phase is one step of a launch with its timing from the start.
type Phase struct {
	Name   string  `json:"name"`
	Detail string  `json:"detail,omitempty"`
	Done   bool    `json:"done"`
	AtMS   float64 `json:"atMs"`   // when it ended (or started), since the launch started
	TookMS float64 `json:"tookMs"` // how long it took
}

// Result is what a launch did, saved as run/launch.json.
type Result struct {
	Engine     string         `json:"engine"`
	Rung       string         `json:"rung"`
	DataDir    string         `json:"dataDir"`
	StartedAt  time.Time      `json:"startedAt"`
	Phases     []Phase        `json:"phases"`
	Kubeconfig string         `json:"kubeconfig,omitempty"`
	Node       string         `json:"node,omitempty"`
	Ready      bool           `json:"ready"`
	Error      string         `json:"error,omitempty"`
	Plan       *adapters.Plan `json:"plan"`
	// Shims says what each of the plan's shims did.
	Shims []ShimOutcome `json:"shims,omitempty"`
	// SimulatedNodes are the kwok nodes (adapters/launch/kwok.go): no
	// container runs there.
	SimulatedNodes []string `json:"simulatedNodes,omitempty"`
	// Nodes are all the real nodes of a multi-node launch
	// (adapters/launch/nodes.go), node 0 first.
	Nodes []string `json:"nodes,omitempty"`
}

// Timing returns when the named phase ended, in ms since the start.
func (r *Result) Timing(name string) (float64, bool) {
	for _, p := range r.Phases {
		if p.Name == name && p.Done {
			return p.AtMS, true
		}
	}
	return 0, false
}

// ShimOutcome is what one of the plan's shims did.
type ShimOutcome struct {
	Name    string   `json:"name"`
	Scope   string   `json:"scope"`
	Applied bool     `json:"applied"`
	Notes   []string `json:"notes,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Diagnosis is what a failed attempt's logs say, in plain words, and what
// to do about it. The signature table (adapters/signatures) produces it.
type Diagnosis struct {
	Code      string `json:"code"`
	Component string `json:"component"`
	Line      string `json:"line"`
	Diagnosis string `json:"diagnosis"`
	Fix       string `json:"fix"`
	// Remedy is applied and the same rung retried.
	Remedy []adapters.Setting `json:"remedy,omitempty"`
	Shims  []adapters.Shim    `json:"shims,omitempty"`
	// StepDown retries one rung lower, or at AtMost when that is lower:
	// the rungs in between cannot avoid the failure.
	StepDown bool          `json:"stepDown,omitempty"`
	AtMost   profiles.Rung `json:"atMost,omitempty"`
}

func (d *Diagnosis) Error() string {
	return fmt.Sprintf("%s: %s (%s log: %q)", d.Code, d.Diagnosis, d.Component, d.Line)
}

// Attempt is one try of the ladder.
type Attempt struct {
	Rung      profiles.Rung `json:"rung"`
	Remedies  []string      `json:"remedies,omitempty"`
	Ready     bool          `json:"ready"`
	Error     string        `json:"error,omitempty"`
	Diagnosis *Diagnosis    `json:"diagnosis,omitempty"`
	Result    *Result       `json:"result"`
}

// Path is where a launch saves its Result in a data dir.
func Path(dataDir string) string { return filepath.Join(dataDir, "run", "launch.json") }

// AttemptsPath is where a launch saves its Attempts in a data dir.
func AttemptsPath(dataDir string) string { return filepath.Join(dataDir, "run", "attempts.json") }

// Load reads run/launch.json.
func Load(dataDir string) (*Result, error) {
	var r Result
	data, err := os.ReadFile(Path(dataDir))
	if err != nil {
		return &r, err
	}
	return &r, json.Unmarshal(data, &r)
}

// Status is what `kprobe status` shows.
type Status struct {
	DataDir    string                   `json:"dataDir"`
	Running    bool                     `json:"running"`
	Phase      string                   `json:"phase,omitempty"`
	Engine     string                   `json:"engine,omitempty"`
	Processes  []supervise.ProcessState `json:"processes,omitempty"`
	APIReady   bool                     `json:"apiReady"`
	NodeReady  bool                     `json:"nodeReady"`
	Endpoint   string                   `json:"endpoint,omitempty"`
	Kubeconfig string                   `json:"kubeconfig,omitempty"`
	Problem    string                   `json:"problem,omitempty"`
	// SimulatedNodes are the launch's kwok nodes, SimulatedReady how many
	// of them are Ready.
	SimulatedNodes []string `json:"simulatedNodes,omitempty"`
	SimulatedReady int      `json:"simulatedReady,omitempty"`
	// Nodes are the real nodes of a multi-node launch, NodesReady how
	// many of them are Ready.
	Nodes      []string `json:"nodes,omitempty"`
	NodesReady int      `json:"nodesReady,omitempty"`
	// Memory is the resident memory of the supervisor and of each running
	// component (not of the pods' processes).
	Memory []ProcessRSS `json:"memory,omitempty"`
}

// ProcessRSS is the resident memory of one of the cluster's processes, as
// `kprobe status` shows it.
type ProcessRSS struct {
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	RSSKiB int64  `json:"rssKiB"`
}

// MemoryLine sums the resident memory for `kprobe status`: "memory (RSS,
// MiB) 612: kube-apiserver 290, etcd 57, ...", largest first.
func MemoryLine(m []ProcessRSS) string {
	if len(m) == 0 {
		return ""
	}
	sorted := append([]ProcessRSS(nil), m...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].RSSKiB > sorted[j].RSSKiB })
	var total int64
	parts := make([]string, 0, len(sorted))
	for _, p := range sorted {
		total += p.RSSKiB
		parts = append(parts, fmt.Sprintf("%s %d", p.Name, p.RSSKiB>>10))
	}
	return fmt.Sprintf("memory (RSS, MiB) %d: %s", total>>10, strings.Join(parts, ", "))
}

// SimulatedNote is what the launch, status and verify say about the
// simulated (kwok) nodes.
const SimulatedNote = "pods are bound but no container runs"

// SimulatedCount says "1 simulated node" or "N simulated nodes", with
// their names.
func SimulatedCount(names []string) string {
	switch len(names) {
	case 0:
		return "no simulated node"
	case 1:
		return "1 simulated node (" + names[0] + ")"
	}
	return fmt.Sprintf("%d simulated nodes (%s..%s)", len(names), names[0], names[len(names)-1])
}
