package reports

import (
	"math"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/launchresult"
	"github.com/kprobe/kprobe/adapters/soakresult"
	"github.com/kprobe/kprobe/adapters/verify"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// APIVersion of the JSON report. Fields are only ever added, and every
// added field is optional, so a v1alpha1 reader still reads every report.
const APIVersion = "kprobe.dev/report/v1alpha1"

// Kind of the JSON report.
const Kind = "ScanReport"

// Report is everything kprobe knows about one sandbox, in one shareable
// value: the scan, the closest built-in profile, the plan, and what a
// launch and a verification did when there were any.
type Report struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// KprobeVersion and GeneratedAt say which kprobe assembled the report
	// and when; ScannedBy and ScannedAt, which one scanned and when (the
	// same for `kprobe scan -o json`).
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

	ScannedAt time.Time `json:"scannedAt,omitzero"`
	ScannedBy string    `json:"scannedBy,omitempty"`
	// Profile is the closest built-in profile and the verdict with it.
	Profile *ProfileMatch `json:"profile,omitempty"`
	// Plan is the plan of the last launch, or else the one `kprobe
	// launch` would follow for Profile (Launch is nil then).
	Plan *adapters.Plan `json:"plan,omitempty"`
	// Launch is the last attempt (DATA/run/launch.json), Attempts every
	// attempt of the ladder (DATA/run/attempts.json).
	Launch   *launchresult.Result   `json:"launch,omitempty"`
	Attempts []launchresult.Attempt `json:"attempts,omitempty"`
	// Verification is the last `kprobe verify` (DATA/run/verify.json).
	Verification *verify.Report `json:"verification,omitempty"`
	// Soak is the last `kprobe soak` (DATA/run/soak.json): the samples
	// and the verdict.
	Soak *soakresult.Result `json:"soak,omitempty"`
	// Redacted is set on a report whose identifying values were removed.
	Redacted bool `json:"redacted,omitempty"`
}

// ProfileMatch is how close the scan is to the built-in profiles of known
// sandboxes, as `kprobe launch --profile auto` decides it.
type ProfileMatch struct {
	// Name is the closest built-in profile; Matched says whether it is
	// close enough (profiles.MinMatchScore) to stand in for what the scan
	// could not observe.
	Name    string   `json:"name"`
	Score   float64  `json:"score"`
	Matched bool     `json:"matched"`
	Why     []string `json:"why,omitempty"`
	// Filled are the facts taken from the built-in profile.
	Filled []string `json:"filled,omitempty"`
	// Verdict is the ladder verdict with the built-in profile overlaid:
	// what plan and launch go by.
	Verdict profiles.Verdict `json:"verdict"`
}

// FromScan builds the report of a scan.
func FromScan(s *probes.Scan, p *profiles.Profile, source string) *Report {
	blockers := s.Blockers()
	if blockers == nil {
		blockers = []probes.Finding{}
	}
	return &Report{
		APIVersion:    APIVersion,
		Kind:          Kind,
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
		ScannedAt:     p.Generated,
		ScannedBy:     p.KprobeVersion,
	}
}

// Stamp records which kprobe assembles the report and when. The scan's
// own version and time move to ScannedBy and ScannedAt when a report
// from before those fields is stamped again.
func (r *Report) Stamp(version string, now time.Time) {
	if r.ScannedAt.IsZero() {
		r.ScannedAt = r.GeneratedAt
	}
	if r.ScannedBy == "" {
		r.ScannedBy = r.KprobeVersion
	}
	r.KprobeVersion = version
	r.GeneratedAt = now.UTC().Truncate(time.Second)
}

// ScanProfile is the profile the scan judged, rebuilt from the report.
func (r *Report) ScanProfile() *profiles.Profile {
	p := &profiles.Profile{
		APIVersion:    profiles.APIVersion,
		Kind:          profiles.Kind,
		KprobeVersion: r.ScannedBy,
		Generated:     r.ScannedAt,
		Identity:      r.Identity,
		Capabilities:  r.Capabilities,
		Verdict:       r.Verdict,
		Facts:         r.Facts,
	}
	for _, res := range r.Results {
		p.Findings = append(p.Findings, res.Findings...)
	}
	return p
}

// MatchBuiltin records the built-in profile closest to the scan in
// r.Profile and returns the profile plans are made for: the built-in one
// with the scan on top when it is close enough, else the scan alone
// (what `kprobe launch --profile auto` does).
func (r *Report) MatchBuiltin(builtins []*profiles.Profile) *profiles.Profile {
	c := profiles.MatchClosest(r.ScanProfile(), builtins)
	if len(c.Ranked) == 0 {
		return c.Profile
	}
	top := c.Ranked[0]
	r.Profile = &ProfileMatch{Name: top.Name, Score: math.Round(top.Score*100) / 100, Why: top.Why,
		Matched: c.Matched, Filled: c.Filled, Verdict: c.Profile.Verdict}
	return c.Profile
}

// AddRun adds what a launch left in its data dir; the launch's plan
// replaces a plan made from the profile.
func (r *Report) AddRun(run *Run) {
	if run == nil {
		return
	}
	r.Launch, r.Attempts, r.Verification, r.Soak = run.Launch, run.Attempts, run.Verification, run.Soak
	if run.Launch != nil && run.Launch.Plan != nil {
		r.Plan = run.Launch.Plan
	}
}

// Launched returns the rung the launch reached: the rung of its ready
// attempt, else the rung of its last attempt with ready false. ok is
// false when nothing was launched.
func (r *Report) Launched() (rung profiles.Rung, ready, ok bool) {
	for i := len(r.Attempts) - 1; i >= 0; i-- {
		if r.Attempts[i].Ready {
			return r.Attempts[i].Rung, true, true
		}
	}
	if n := len(r.Attempts); n > 0 {
		return r.Attempts[n-1].Rung, false, true
	}
	if r.Launch != nil {
		return profiles.Rung(r.Launch.Rung), r.Launch.Ready, true
	}
	return "", false, false
}
