package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/launchresult"
	"github.com/kprobe/kprobe/profiles"
)

// What `kprobe launch` and `kprobe status` print, as the commands print
// it: progress and summaries on stderr prefixed "kprobe:", the
// kubeconfig export on stdout.

// WriteLaunchPlan says what a launch is about to run: engine, rung, data
// dir, and each setting and shim with its reason.
func WriteLaunchPlan(w io.Writer, engine, dataDir string, plan *adapters.Plan) {
	fmt.Fprintf(w, "kprobe: engine %s, rung %s (%s), data dir %s\n", engine, plan.Rung, plan.RungTitle(), dataDir)
	if g := profiles.GivesUp[plan.Rung]; g != "" {
		fmt.Fprintf(w, "kprobe:   %s gives up: %s\n", plan.Rung, g)
	}
	for _, n := range plan.Notes {
		fmt.Fprintf(w, "kprobe:   note: %s\n", n)
	}
	for _, st := range plan.Settings {
		fmt.Fprintf(w, "kprobe:   %-22s %s  [%s] %s\n", st.Component, st.Name+"="+st.Value, st.Reason, st.Rationale)
	}
	for _, sh := range plan.Shims {
		fmt.Fprintf(w, "kprobe:   %-22s %s  [%s] %s\n", "shim", sh.Name, sh.Reason, sh.Rationale)
	}
}

// LaunchProgress prints each phase of a launch with its elapsed time.
func LaunchProgress(w io.Writer) func(launchresult.Phase) {
	return func(p launchresult.Phase) {
		switch {
		case !p.Done && p.TookMS == 0:
			fmt.Fprintf(w, "[%6.1fs] %s: %s...\n", p.AtMS/1000, p.Name, p.Detail)
		case p.Done:
			fmt.Fprintf(w, "[%6.1fs] %s: done in %.2fs\n", p.AtMS/1000, p.Name, p.TookMS/1000)
		default:
			fmt.Fprintf(w, "[%6.1fs] %s: FAILED after %.2fs: %s\n", p.AtMS/1000, p.Name, p.TookMS/1000, p.Detail)
		}
	}
}

// WriteLaunchResult says what a ready launch reached: the shims, how long
// the API, the node and the first pod took, the nodes and the add-ons.
func WriteLaunchResult(w io.Writer, res *launchresult.Result) {
	for _, sh := range res.Shims {
		switch {
		case sh.Error != "":
			fmt.Fprintf(w, "kprobe: shim %s not applied (went on without it): %s\n", sh.Name, sh.Error)
		case !sh.Applied:
			fmt.Fprintf(w, "kprobe: shim %s: in place already\n", sh.Name)
		default:
			fmt.Fprintf(w, "kprobe: shim %s applied: %s\n", sh.Name, strings.Join(sh.Notes, "; "))
		}
	}
	api, _ := res.Timing("api")
	if node, ok := res.Timing("node"); ok {
		pod, _ := res.Timing("pod")
		fmt.Fprintf(w, "kprobe: ready: API %.1fs, node Ready %.1fs, first pod Running %.1fs after start\n", api/1000, node/1000, pod/1000)
	} else {
		fmt.Fprintf(w, "kprobe: control plane ready %.1fs after start (%s: no node, no pods; kubectl and helm --dry-run=server work)\n", api/1000, res.Rung)
	}
	if n := len(res.Nodes); n > 1 {
		nodes, _ := res.Timing("nodes")
		fmt.Fprintf(w, "kprobe: %d nodes Ready %.1fs after start: %s\n", n, nodes/1000, strings.Join(res.Nodes, ", "))
	}
	if len(res.SimulatedNodes) > 0 {
		fmt.Fprintf(w, "kprobe: %s, kept Ready by kwok: %s\n", launchresult.SimulatedCount(res.SimulatedNodes), launchresult.SimulatedNote)
	}
	for _, p := range res.Phases {
		switch {
		case p.Name != "addons":
		case p.Done && !strings.HasPrefix(p.Detail, "skipped"):
			fmt.Fprintf(w, "kprobe: %s %.1fs after start\n", p.Detail, p.AtMS/1000) // what was deployed (TP: storage only)
		default:
			fmt.Fprintf(w, "kprobe: no cluster DNS and storage add-ons: %s\n", strings.TrimPrefix(p.Detail, "skipped: "))
		}
	}
}

// WriteLaunchJSON writes a launch's last result with every attempt of the
// ladder (`launch -o json`).
func WriteLaunchJSON(w io.Writer, res *launchresult.Result, attempts []launchresult.Attempt) error {
	return writeIndented(w, struct {
		*launchresult.Result
		Attempts []launchresult.Attempt `json:"attempts"`
	}{res, attempts})
}

// WriteStatus writes `kprobe status` for the launch of dataDir: the
// processes, readiness, nodes and endpoint of a running cluster, what
// went wrong with one that is not.
func WriteStatus(w io.Writer, dataDir string, st *launchresult.Status) {
	if st.Engine == "" {
		fmt.Fprintf(w, "no cluster was launched from %s\n", dataDir)
		return
	}
	state := "running"
	if !st.Running {
		state = "not running (phase " + st.Phase + ")"
	}
	fmt.Fprintf(w, "cluster (%s engine) from %s: %s\n", st.Engine, dataDir, state)
	for _, p := range st.Processes {
		extra := ""
		if p.Restarts > 0 {
			extra = fmt.Sprintf(", %d restarts", p.Restarts)
		}
		if p.Error != "" {
			extra += ", " + p.Error
		}
		fmt.Fprintf(w, "  %-24s %-8s pid %-7d log %s%s\n", p.Name, p.Status, p.PID, p.Log, extra)
	}
	if st.Running {
		fmt.Fprintf(w, "API %s ready=%v, node ready=%v\n", st.Endpoint, st.APIReady, st.NodeReady)
		if n := len(st.Nodes); n > 1 {
			fmt.Fprintf(w, "%d nodes, %d Ready: %s\n", n, st.NodesReady, strings.Join(st.Nodes, ", "))
		}
		if n := len(st.SimulatedNodes); n > 0 {
			fmt.Fprintf(w, "%s, %d of %d Ready (kwok): %s\n", launchresult.SimulatedCount(st.SimulatedNodes), st.SimulatedReady, n, launchresult.SimulatedNote)
		}
		if st.Kubeconfig != "" {
			fmt.Fprintf(w, "export KUBECONFIG=%s\n", st.Kubeconfig)
		}
		if line := launchresult.MemoryLine(st.Memory); line != "" {
			fmt.Fprintln(w, line)
		}
	}
	if st.Problem != "" {
		fmt.Fprintf(w, "problem: %s\n", st.Problem)
	}
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
