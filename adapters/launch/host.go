package launch

import "github.com/kprobe/kprobe/adapters/launchhost"

// The errors of the look-ups that moved to launchhost (so that the light
// kprobe links them without a Kubernetes client), under the names launch's
// callers and tests match them by.
type (
	PreflightError = launchhost.PreflightError
	MissingError   = launchhost.MissingError
)
