package podnode

import (
	"slices"
	"testing"
)

// TestStepDown: a planned level is the strongest tried; the agent steps
// down from it to chroot and none, never up.
func TestStepDown(t *testing.T) {
	for want, levels := range map[Isolation][]Isolation{
		"":              {IsolationUserns, IsolationChroot, IsolationNone},
		IsolationAuto:   {IsolationUserns, IsolationChroot, IsolationNone},
		IsolationUserns: {IsolationUserns, IsolationChroot, IsolationNone},
		IsolationChroot: {IsolationChroot, IsolationNone},
		IsolationNone:   {IsolationNone},
		"vm":            nil,
	} {
		if got := stepDown(want); !slices.Equal(got, levels) {
			t.Errorf("stepDown(%q) = %v, want %v", want, got, levels)
		}
	}
	if got := exitText(137); got != "137 (signal SIGKILL)" {
		t.Errorf("exitText(137) = %q", got)
	}
}
