package supervise

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// A component's readiness limit (Ready.Timeout: containerd 30 s, the API
// server 90 s) is what it needs on an ordinary machine. On a slow one (a
// VM without hardware virtualisation runs Go programs 2-4x slower) the
// same start takes longer, and a fixed limit would fail a start that was
// going well. So when the limit passes, the supervisor looks at what the
// component did over the last BusyWindow: if it used at least BusyShare
// of one CPU, it is still starting and the wait goes on, up to the
// launch's own deadline (Spec.ReadyBy, from --wait); if it was idle or
// nearly so (hung, or retrying something with back-off), the start fails
// at its limit as before. A known failure signature in its log ends the
// launch's wait at once either way (adapters/launch watches the logs).
var (
	BusyWindow = 5 * time.Second
	BusyShare  = 0.10
)

// clockTicks is USER_HZ, the unit of /proc's CPU times on every Linux
// architecture.
const clockTicks = 100

// cpuTime is the CPU time (user and system) pid and its waited-for
// children used; false when the process is gone.
func cpuTime(pid int) (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	// After the command: utime, stime, cutime, cstime are fields 14-17
	// overall, f[11]-f[14] here.
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0, false
	}
	var ticks uint64
	for _, v := range f[11:15] {
		n, _ := strconv.ParseUint(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, true
}

// cpuSample is a process's CPU time at one moment.
type cpuSample struct {
	at  time.Time
	cpu time.Duration
}

// progress follows the CPU time of a starting process.
type progress struct {
	pid     int
	samples []cpuSample // oldest first; the first at or before the window's start
}

// share records a sample and returns the share of one CPU the process
// used over the last BusyWindow; ok is false until a whole window has
// been seen, or when the process is gone.
func (p *progress) share(now time.Time) (share float64, ok bool) {
	cpu, alive := cpuTime(p.pid)
	if !alive {
		return 0, false
	}
	p.samples = append(p.samples, cpuSample{now, cpu})
	for len(p.samples) > 2 && now.Sub(p.samples[1].at) >= BusyWindow {
		p.samples = p.samples[1:]
	}
	first := p.samples[0]
	span := now.Sub(first.at)
	if span < BusyWindow {
		return 0, false
	}
	return float64(cpu-first.cpu) / float64(span), true
}
