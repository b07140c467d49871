package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kprobe/kprobe/adapters/launchresult"
	"github.com/kprobe/kprobe/adapters/soakresult"
	"github.com/kprobe/kprobe/adapters/verify"
	"github.com/kprobe/kprobe/probes/bounded"
)

// Run is what a launch left in its data dir: the last attempt
// (run/launch.json), every attempt of the ladder (run/attempts.json) and
// the last verification (run/verify.json). Each is nil when absent; a
// verification older than the last launch is left out.
type Run struct {
	Launch       *launchresult.Result
	Attempts     []launchresult.Attempt
	Verification *verify.Report
	// Soak is the last `kprobe soak` (run/soak.json), its series and verdict.
	Soak *soakresult.Result
}

// VerifyPath is where `kprobe verify` saves its report in a data dir.
func VerifyPath(dataDir string) string { return filepath.Join(dataDir, "run", "verify.json") }

func attemptsPath(dataDir string) string { return filepath.Join(dataDir, "run", "attempts.json") }

// LoadRun reads what a launch left under dataDir. It returns nil when
// there is none of the files, and an error naming the file that does not
// decode.
func LoadRun(dataDir string) (*Run, error) {
	run := &Run{}
	found := false
	res, err := launchresult.Load(dataDir)
	switch {
	case err == nil:
		run.Launch, found = res, true
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w", filepath.Join(dataDir, "run", "launch.json"), err)
	}
	var attempts []launchresult.Attempt
	if ok, err := readJSON(attemptsPath(dataDir), &attempts); err != nil {
		return nil, err
	} else if ok {
		run.Attempts, found = attempts, true
	}
	var v verify.Report
	if ok, err := readJSON(VerifyPath(dataDir), &v); err != nil {
		return nil, err
	} else if ok && !stale(VerifyPath(dataDir), run.Launch) {
		run.Verification, found = &v, true
	}
	if s, err := soakresult.Load(dataDir); err == nil && !stale(soakresult.ResultPath(dataDir), run.Launch) {
		run.Soak, found = s, true
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if !found {
		return nil, nil
	}
	return run, nil
}

// stale reports whether the verification at path predates the launch: it
// checked a cluster an earlier launch from the same data dir started.
func stale(path string, last *launchresult.Result) bool {
	st, err := os.Stat(path)
	return err == nil && last != nil && st.ModTime().Before(last.StartedAt)
}

// readJSON decodes path into v; ok is false when the file does not exist.
func readJSON(path string, v any) (ok bool, err error) {
	data, err := bounded.ReadFile(path, bounded.RunRecord)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}
