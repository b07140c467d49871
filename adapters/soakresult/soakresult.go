// Package soakresult is what `kprobe soak` records (DATA/run/soak.json),
// as plain data: adapters/soak produces and judges it, reports renders
// it. It imports no Kubernetes client library, so that `kprobe report`
// does not link one.
package soakresult

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// APIVersion and Kind of the JSON result. Fields are only ever added.
const (
	APIVersion = "kprobe.dev/soak/v1alpha1"
	Kind       = "SoakResult"
)

// Result is one soak: what ran, every sample, the failures and the
// verdict. It is what `kprobe soak -o json` prints and what it saves as
// DATA/run/soak.json.
type Result struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Engine     string    `json:"engine"`
	Rung       string    `json:"rung,omitempty"`
	DataDir    string    `json:"dataDir"`
	Namespace  string    `json:"namespace"`
	StartedAt  time.Time `json:"startedAt"`
	EndedAt    time.Time `json:"endedAt"`
	// DurationS is the requested duration, ElapsedS the sampled time;
	// they differ when the soak was interrupted or the cluster went away.
	DurationS float64 `json:"durationS"`
	ElapsedS  float64 `json:"elapsedS"`
	IntervalS float64 `json:"intervalS"`
	// Interrupted is set when a signal ended the soak early, Aborted (the
	// reason) when the cluster did.
	Interrupted bool   `json:"interrupted,omitempty"`
	Aborted     string `json:"aborted,omitempty"`
	// Workload says which parts ran and why any was skipped.
	Workload []Part `json:"workload"`
	// ProcessAttribution says whether container processes could be told
	// apart by their pod's cgroup here (needed for the process leak check).
	ProcessAttribution bool `json:"processAttribution"`
	// Baseline is the sample taken before the workload started.
	Baseline *Sample  `json:"baseline,omitempty"`
	Samples  []Sample `json:"samples"`
	// Cycles are the Deployment's scale cycles, one per 1→3→1.
	Cycles []Cycle `json:"cycles,omitempty"`
	// WriterRestarts counts the writer pod's recreations on its claim.
	WriterRestarts int `json:"writerRestarts,omitempty"`
	// Events are the failed probes, leaks and restarts, in order (at most
	// maxEvents; EventsDropped counts the rest).
	Events        []Event `json:"events,omitempty"`
	EventsDropped int     `json:"eventsDropped,omitempty"`
	// Final is what was left once the namespace was deleted.
	Final   Final   `json:"final"`
	Summary Summary `json:"summary"`
	Verdict Verdict `json:"verdict"`
}

// Part of the workload.
type Part struct {
	Name    string `json:"name"`
	Ran     bool   `json:"ran"`
	Detail  string `json:"detail"`
	Skipped string `json:"skipped,omitempty"`
}

// Sample is one interval's measurements. Counters named "in this
// interval" restart at every sample; the others are cumulative or
// instantaneous.
type Sample struct {
	T  float64   `json:"t"` // seconds since the sampling started
	At time.Time `json:"at"`
	// Restarts are component restarts since the soak started, per
	// component with any; NotRunning the components not running now.
	Restarts   map[string]int `json:"restarts,omitempty"`
	NotRunning []string       `json:"notRunning,omitempty"`
	// PodRestarts counts container restarts of the soak's pods so far.
	PodRestarts int `json:"podRestarts"`
	// APIMS is the latency of each timed request, in ms (absent when it
	// failed: that is a failed probe).
	APIMS map[string]float64 `json:"apiMs"`
	// RSSKiB is each component's resident memory (VmRSS), and the
	// supervisor's; ShimsRSSKiB is the sum over the containerd shims.
	RSSKiB      map[string]int64 `json:"rssKiB"`
	ShimsRSSKiB int64            `json:"shimsRssKiB"`
	// FailedProbes in this interval.
	FailedProbes int `json:"failedProbes"`
	// Pods are the pods on real (not simulated) nodes that are not
	// finished; Shims the containerd shims of this cluster. A shim per pod
	// sandbox: more shims than pods is a leak when it lasts.
	Pods  int `json:"pods"`
	Shims int `json:"shims"`
	// Replicas is the scaled Deployment's ready replicas.
	Replicas int `json:"replicas"`
	// LogLines followed in this interval, and the largest delay between a
	// line's write (the runtime's timestamp) and its arrival.
	LogLines int     `json:"logLines"`
	LogLagMS float64 `json:"logLagMs"`
	// Requests to the Service in this interval, and how many failed.
	Requests       int `json:"requests"`
	RequestsFailed int `json:"requestsFailed"`
	// Writes to the PersistentVolumeClaim in this interval.
	Writes int `json:"writes"`
}

// Cycle is one scale-up and scale-down of the Deployment.
type Cycle struct {
	T float64 `json:"t"`
	// UpMS: until 3 replicas were ready; DownMS: until the 2 removed pods
	// were gone from the API; ReapMS: until their processes were gone
	// (-1 when the processes cannot be attributed here).
	UpMS   float64 `json:"upMs"`
	DownMS float64 `json:"downMs"`
	ReapMS float64 `json:"reapMs"`
	OK     bool    `json:"ok"`
}

// Event kinds.
const (
	EventFailedProbe = "failed-probe"
	EventLeak        = "leak"
	// EventRestart says why a component or a container restarted; the
	// restarts criterion counts them from the samples.
	EventRestart = "restart"
)

// Event is a failed probe, a leak or a restart, with what happened.
type Event struct {
	T       float64 `json:"t"`
	Kind    string  `json:"kind"`
	Part    string  `json:"part"`
	Message string  `json:"message"`
}

// Final is the state after the namespace was deleted and the node had
// time (bounded) to tear its pods down.
type Final struct {
	NamespaceDeleted bool   `json:"namespaceDeleted"`
	Error            string `json:"error,omitempty"`
	Pods             int    `json:"pods"`
	Shims            int    `json:"shims"`
	// LeakedShims are shims beyond one per remaining pod; LeakedProcesses
	// are processes still in the cgroup of one of the soak's pods.
	LeakedShims     int `json:"leakedShims"`
	LeakedProcesses int `json:"leakedProcesses"`
}

// Stat summarises a series of durations.
type Stat struct {
	N     int     `json:"n"`
	P50MS float64 `json:"p50Ms"`
	P95MS float64 `json:"p95Ms"`
	MaxMS float64 `json:"maxMs"`
}

// MemoryTrend is one component's memory over the soak, by the flat rule.
type MemoryTrend struct {
	Component string `json:"component"`
	// FirstMiB and LastMiB are the means of the first and last quarter of
	// the samples after the warm-up; MaxMiB the largest sample.
	FirstMiB  float64 `json:"firstQuarterMiB"`
	LastMiB   float64 `json:"lastQuarterMiB"`
	ChangePct float64 `json:"changePct"`
	MaxMiB    float64 `json:"maxMiB"`
	// SteadyMiB is the mean of the second half of the samples after the
	// warm-up (the steady state) and SteadyGrowthMiB the rise of its
	// least-squares line projected over the whole span after the warm-up:
	// what the memory rule judges.
	SteadyMiB       float64 `json:"steadyMiB"`
	SteadyGrowthMiB float64 `json:"steadyGrowthMiB"`
	Samples         int     `json:"samples"`
	Flat            bool    `json:"flat"`
	// Judged is false when there were too few samples after the warm-up.
	Judged bool `json:"judged"`
}

// Summary is the series in a few numbers.
type Summary struct {
	Samples           int           `json:"samples"`
	ComponentRestarts int           `json:"componentRestarts"`
	PodRestarts       int           `json:"podRestarts"`
	FailedProbes      int           `json:"failedProbes"`
	API               Stat          `json:"api"`
	Memory            []MemoryTrend `json:"memory"`
	WarmUpS           float64       `json:"warmUpS"`
	ScaleCycles       int           `json:"scaleCycles"`
	ScaleUp           Stat          `json:"scaleUp"`
	ScaleDown         Stat          `json:"scaleDown"`
	LogLines          int           `json:"logLines"`
	LogMaxLagMS       float64       `json:"logMaxLagMs"`
	Requests          int           `json:"requests"`
	RequestsFailed    int           `json:"requestsFailed"`
	Writes            int           `json:"writes"`
	// WriterRestarts counts the times the writer pod was recreated on the
	// same claim and found all its earlier writes.
	WriterRestarts int `json:"writerRestarts"`
	// MaxShimExcess is the largest shims-minus-pods of any sample,
	// LongestShimExcess the longest run of consecutive samples with more
	// shims than pods.
	MaxShimExcess     int `json:"maxShimExcess"`
	LongestShimExcess int `json:"longestShimExcess"`
	LeakedProcesses   int `json:"leakedProcesses"`
}

// Outcomes of a criterion.
const (
	Pass    = "pass"
	Fail    = "fail"
	Unknown = "unknown"
)

// Criterion is one part of the verdict.
type Criterion struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
}

// Verdict: OK when every criterion passes.
type Verdict struct {
	OK       bool        `json:"ok"`
	Criteria []Criterion `json:"criteria"`
}

// ResultPath is where `kprobe soak` saves its last result in a data dir,
// next to run/verify.json, for `kprobe report`.
func ResultPath(dataDir string) string { return filepath.Join(dataDir, "run", "soak.json") }

// Load reads the last soak saved in a data dir (fs.ErrNotExist when none
// ran there).
func Load(dataDir string) (*Result, error) {
	data, err := os.ReadFile(ResultPath(dataDir))
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", ResultPath(dataDir), err)
	}
	return &r, nil
}
