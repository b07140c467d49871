package supervise

import (
	"errors"
	"os"
	"time"
)

// Status of a supervised process.
type Status string

const (
	Starting Status = "starting"
	Running  Status = "running"
	Exited   Status = "exited" // died; may be restarted
	Failed   Status = "failed" // died and will not be restarted
	Stopped  Status = "stopped"
)

// ProcessState is what the supervisor knows of one process.
type ProcessState struct {
	Name string `json:"name"`
	PID  int    `json:"pid,omitempty"`
	// StartTick is the process's start time in clock ticks since boot
	// (/proc/PID/stat field 22): with the PID it identifies the process,
	// so a stop never signals a recycled PID.
	StartTick uint64    `json:"startTick,omitempty"`
	Status    Status    `json:"status"`
	StartedAt time.Time `json:"startedAt,omitempty"`
	ReadyAt   time.Time `json:"readyAt,omitempty"`
	ExitCode  int       `json:"exitCode,omitempty"`
	Restarts  int       `json:"restarts,omitempty"`
	Error     string    `json:"error,omitempty"`
	// LastExit is how the process's previous run ended ("exit status
	// 255 before it was ready"); unlike Error it stays across a restart,
	// so that the launch can say why a component was started again.
	LastExit string `json:"lastExit,omitempty"`
	Log      string `json:"log"`
}

// State is the supervisor's record, rewritten atomically on every change.
type State struct {
	SupervisorPID       int       `json:"supervisorPid"`
	SupervisorStartTick uint64    `json:"supervisorStartTick"`
	Engine              string    `json:"engine"`
	DataDir             string    `json:"dataDir"`
	StartedAt           time.Time `json:"startedAt"`
	// Phase is what the supervisor is doing: starting, running, stopping,
	// stopped or failed.
	Phase string `json:"phase"`
	// Cause names the process whose exit or readiness failure made the
	// supervisor give up the start (phase failed).
	Cause     string         `json:"cause,omitempty"`
	Processes []ProcessState `json:"processes"`
}

// ReadState loads the state of a data dir; os.ErrNotExist when no
// supervisor ever ran there.
func ReadState(dataDir string) (*State, error) {
	var s State
	if err := readJSON(Layout{dataDir}.StatePath(), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Process returns the state of the named process.
func (s *State) Process(name string) *ProcessState {
	for i := range s.Processes {
		if s.Processes[i].Name == name {
			return &s.Processes[i]
		}
	}
	return nil
}

// Alive reports whether the supervisor recorded in the state still runs.
func (s *State) Alive() bool {
	return s.SupervisorPID > 0 && SameProcess(s.SupervisorPID, s.SupervisorStartTick)
}

// ErrNotRunning is returned when a data dir has no live supervisor.
var ErrNotRunning = errors.New("no cluster is running from this data dir")

// Live returns the state of a live supervisor, or ErrNotRunning.
func Live(dataDir string) (*State, error) {
	s, err := ReadState(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, err
	}
	if !s.Alive() {
		return s, ErrNotRunning
	}
	return s, nil
}
