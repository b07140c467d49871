package reports

import (
	"time"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// APIVersion of the JSON report. Fields are only ever added.
const APIVersion = "kprobe.dev/report/v1alpha1"

// Report is everything a scan found, in one shareable value.
type Report struct {
	APIVersion    string                `json:"apiVersion"`
	Kind          string                `json:"kind"`
	KprobeVersion string                `json:"kprobeVersion"`
	GeneratedAt   time.Time             `json:"generatedAt"`
	Identity      profiles.Identity     `json:"identity"`
	Verdict       profiles.Verdict      `json:"verdict"`
	Capabilities  profiles.Capabilities `json:"capabilities"`
	Blockers      []probes.Finding      `json:"blockers"`
	Results       []probes.Result       `json:"results"`
	Facts         probes.Facts          `json:"facts"`
	DurationMS    float64               `json:"durationMs"`
	Source        string                `json:"source,omitempty"` // "live" or the capture it replays
}

// FromScan builds the report of a scan.
func FromScan(s *probes.Scan, p *profiles.Profile, source string) *Report {
	blockers := s.Blockers()
	if blockers == nil {
		blockers = []probes.Finding{}
	}
	return &Report{
		APIVersion:    APIVersion,
		Kind:          "ScanReport",
		KprobeVersion: p.KprobeVersion,
		GeneratedAt:   p.Generated,
		Identity:      p.Identity,
		Verdict:       p.Verdict,
		Capabilities:  p.Capabilities,
		Blockers:      blockers,
		Results:       s.Results,
		Facts:         s.Facts,
		DurationMS:    s.DurationMS,
		Source:        source,
	}
}
