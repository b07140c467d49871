package launch

import (
	"os"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/launchhost"
)

// rootPreflight stops a launch by a user who is not root before anything
// starts, when the plan's rung needs root (NeedsRoot). kprobe launch
// checks it before the launch too; this keeps every caller of Upstream
// honest.
func rootPreflight(plan *adapters.Plan, agent bool) error {
	if !agent {
		return nil
	}
	if err := launchhost.NeedsRoot(os.Geteuid(), plan.Rung, plan.Engine); err != nil {
		return &PreflightError{Problems: []string{err.Error()}}
	}
	return nil
}
