package launchhost

import (
	"github.com/kprobe/kprobe/adapters/supervise"
)

// OwnProcesses names, for a scan taken next to a running cluster, the
// processes that are the cluster of dataDir's (from its run state: the
// supervisor and every process it runs, each checked to be the same
// process, not a recycled PID). Nil when no cluster runs from dataDir.
func OwnProcesses(dataDir string) func(pid int) string {
	st, err := supervise.Live(dataDir)
	if err != nil {
		return nil
	}
	name := "the kprobe cluster of " + dataDir
	own := map[int]bool{st.SupervisorPID: true}
	for _, p := range st.Processes {
		if p.PID > 0 && supervise.SameProcess(p.PID, p.StartTick) {
			own[p.PID] = true
		}
	}
	return func(pid int) string {
		if own[pid] {
			return name
		}
		return ""
	}
}
