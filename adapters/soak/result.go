package soak

import "github.com/kprobe/kprobe/adapters/soakresult"

// A soak's record is plain data in adapters/soakresult, so that reports
// render it without linking this package's Kubernetes clients; the names
// below keep this package's API.
type (
	Result      = soakresult.Result
	Part        = soakresult.Part
	Sample      = soakresult.Sample
	Cycle       = soakresult.Cycle
	Event       = soakresult.Event
	Final       = soakresult.Final
	Stat        = soakresult.Stat
	MemoryTrend = soakresult.MemoryTrend
	Summary     = soakresult.Summary
	Criterion   = soakresult.Criterion
	Verdict     = soakresult.Verdict
)

// APIVersion and Kind of the JSON result.
const (
	APIVersion = soakresult.APIVersion
	Kind       = soakresult.Kind
)

// Event kinds.
const (
	EventFailedProbe = soakresult.EventFailedProbe
	EventLeak        = soakresult.EventLeak
	EventRestart     = soakresult.EventRestart
)

// Outcomes of a criterion.
const (
	Pass    = soakresult.Pass
	Fail    = soakresult.Fail
	Unknown = soakresult.Unknown
)

// ResultPath is where `kprobe soak` saves its last result in a data dir.
func ResultPath(dataDir string) string { return soakresult.ResultPath(dataDir) }

// Load reads the last soak saved in a data dir (fs.ErrNotExist when none
// ran there).
func Load(dataDir string) (*Result, error) { return soakresult.Load(dataDir) }
