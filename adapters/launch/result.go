package launch

import "github.com/kprobe/kprobe/adapters/launchresult"

// A launch's records are plain data in adapters/launchresult, so that
// reports render them without linking this package's Kubernetes clients;
// the names below keep this package's API.
type (
	Phase       = launchresult.Phase
	Result      = launchresult.Result
	ShimOutcome = launchresult.ShimOutcome
	Diagnosis   = launchresult.Diagnosis
	Attempt     = launchresult.Attempt
	Status      = launchresult.Status
	ProcessRSS  = launchresult.ProcessRSS
)

// SimulatedNote is what the launch, status and verify say about the
// simulated nodes.
const SimulatedNote = launchresult.SimulatedNote

// SimulatedCount says "1 simulated node" or "N simulated nodes", with
// their names.
func SimulatedCount(names []string) string { return launchresult.SimulatedCount(names) }

// MemoryLine sums the resident memory for `kprobe status`, largest first.
func MemoryLine(m []ProcessRSS) string { return launchresult.MemoryLine(m) }

// LoadResult reads run/launch.json.
func LoadResult(dataDir string) (*Result, error) { return launchresult.Load(dataDir) }
