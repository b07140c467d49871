package zoo_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/kprobe/kprobe/profiles"
)

// predictedReach is the rung a launch case must reach if the full scan of
// its sandbox is right: the scan's verdict, except where the case's own
// flags change the target. ok is false for the cases whose launch does
// not judge the scan: a Wrap changes the sandbox before the launch, and
// --force-rung or --simulate-nodes choose the rung themselves.
func predictedReach(c launchCase, verdict string) (reach string, ok bool) {
	if c.Wrap != "" || slices.Contains(c.Flags, "--force-rung") || slices.Contains(c.Flags, "--simulate-nodes") {
		return "", false
	}
	// Without process pods the ladder skips TP and stops at T3.
	if verdict == string(profiles.TP) && slices.Contains(c.Flags, "--process-pods=false") {
		return string(profiles.T3), true
	}
	return verdict, true
}

// TestLaunchCasesMatchScanVerdicts checks that each zoo launch case's
// reached rung is the one its sandbox's full scan gives
// (expectations.toml's verdict, which TestZoo checks against a real scan):
// a scan that promises more or less than a launch reaches is wrong.
func TestLaunchCasesMatchScanVerdicts(t *testing.T) {
	exp := loadExpectations(t, "expectations.toml")
	judged := 0
	for _, c := range append(launchCases, vmCases...) {
		want, ok := exp[c.Sandbox]
		if !ok {
			t.Errorf("launch case %s: expectations.toml has no [%s]", c.Name, c.Sandbox)
			continue
		}
		verdict, _ := want["verdict"].(string)
		reach, ok := predictedReach(c, verdict)
		if !ok {
			continue
		}
		judged++
		if reach != c.Reach {
			t.Errorf("launch case %s reaches %s, but the full scan of %s says %s (expectations.toml): one of them is wrong",
				c.Name, c.Reach, c.Sandbox, verdict)
		}
	}
	if judged == 0 {
		t.Fatal("no launch case judged the scan")
	}
}

// passiveProblem says what is wrong when a passive scan claims a rung
// above the full scan's: a passive verdict rests on files read, and may
// only be lower (less is proven), never higher.
func passiveProblem(full, passive string) string {
	if !profiles.ValidRung(profiles.Rung(passive)) {
		return fmt.Sprintf("the passive scan's verdict %q is not a rung", passive)
	}
	if profiles.Above(profiles.Rung(passive), profiles.Rung(full)) {
		return fmt.Sprintf("the passive scan claims %s, above the full scan's %s", passive, full)
	}
	return ""
}

// scanVerdict reads .verdict.rung of kprobe's JSON report.
func scanVerdict(b []byte) (string, error) {
	var r struct {
		Verdict struct {
			Rung string `json:"rung"`
		} `json:"verdict"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", err
	}
	if r.Verdict.Rung == "" {
		return "", fmt.Errorf("no verdict")
	}
	return r.Verdict.Rung, nil
}

func TestPassiveProblem(t *testing.T) {
	for _, c := range []struct {
		full, passive string
		bad           bool
	}{
		{"TP", "T1", true}, {"TP", "T3", false}, {"TP", "TP", false}, {"T0", "T4", false},
		{"T3", "TP", true}, {"T1", "T0", true}, {"T1", "bogus", true},
	} {
		if got := passiveProblem(c.full, c.passive) != ""; got != c.bad {
			t.Errorf("passiveProblem(%s, %s) = %v, want %v", c.full, c.passive, got, c.bad)
		}
	}
}
