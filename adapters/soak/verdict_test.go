package soak

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/probes/probetest"
)

func TestWarmUp(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{
		time.Minute:     30 * time.Second,
		3 * time.Minute: 30 * time.Second,
		time.Hour:       6 * time.Minute,
	} {
		if got := WarmUp(d); got != want {
			t.Errorf("WarmUp(%s) = %s, want %s", d, got, want)
		}
	}
}

// mib builds a series in KiB from MiB values.
func mib(v ...float64) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x * 1024)
	}
	return out
}

func TestMemoryFlat(t *testing.T) {
	cases := []struct {
		name   string
		series []int64
		flat   bool
		judged bool
	}{
		{"steady", mib(300, 301, 299, 300, 302, 300, 301, 300), true, true},
		{"falls", mib(300, 300, 290, 280, 270, 260, 250, 250), true, true},
		// The steady half's line rises 11.9 MiB over the span, 10% of 118.
		{"slowing to flat", mib(100, 100, 105, 110, 115, 118, 120, 120), true, true},
		// Grows at start-up, then levels off (etcd until its raft log is
		// first truncated): the steady state is flat.
		{"levels off", mib(70, 90, 110, 120, 123, 123, 122, 123), true, true},
		// Still rising 5.5 MiB a sample in steady state: 38.5 MiB over the
		// span, more than 20% of 124.
		{"leak", mib(100, 100, 105, 110, 115, 120, 130, 130), false, true},
		// A small process's steady line rises 9.8 MiB: within the slack.
		{"small process", mib(30, 30, 32, 34, 35, 37, 39, 39), true, true},
		// 2 MiB a sample, steadily: 14 MiB over the span, over both limits.
		{"small leak", mib(30, 32, 34, 36, 38, 40, 42, 44), false, true},
		{"too short", mib(100, 200, 300), false, false},
	}
	for _, c := range cases {
		m := MemoryFlat("x", c.series)
		if m.Flat != c.flat || m.Judged != c.judged {
			t.Errorf("%s: flat %v judged %v, want %v %v (%+v)", c.name, m.Flat, m.Judged, c.flat, c.judged, m)
		}
	}
	m := MemoryFlat("kube-apiserver", mib(100, 100, 105, 110, 115, 120, 130, 130))
	if m.FirstMiB != 100 || m.LastMiB != 130 || m.ChangePct != 30 || m.MaxMiB != 130 || m.Samples != 8 ||
		m.SteadyMiB != 123.8 || m.SteadyGrowthMiB != 38.5 {
		t.Errorf("trend numbers: %+v", m)
	}
}

// clean is a 3-minute soak where everything held.
func clean() *Result {
	r := &Result{DurationS: 180, ElapsedS: 180, IntervalS: 5, Namespace: Namespace, ProcessAttribution: true,
		Final: Final{NamespaceDeleted: true, Pods: 3, Shims: 3}}
	for i := 0; i <= 36; i++ {
		r.Samples = append(r.Samples, Sample{
			T:      float64(i * 5),
			APIMS:  map[string]float64{"readyz": 2, "list-pods": 3},
			RSSKiB: map[string]int64{"kube-apiserver": 290 * 1024, "etcd": 50 * 1024},
			Pods:   9, Shims: 9, LogLines: 5, Requests: 5, Writes: 1,
		})
	}
	r.Cycles = []Cycle{{UpMS: 500, DownMS: 3000, ReapMS: 3000, OK: true}, {UpMS: 700, DownMS: 3500, ReapMS: 3500, OK: true}}
	return r
}

func outcomes(r *Result) map[string]string {
	out := map[string]string{}
	for _, c := range r.Verdict.Criteria {
		out[c.Name] = c.Outcome
	}
	return out
}

func TestJudgeClean(t *testing.T) {
	r := clean()
	Judge(r)
	if !r.Verdict.OK {
		t.Fatalf("a clean soak is not ok: %+v", r.Verdict)
	}
	s := r.Summary
	if s.Samples != 37 || s.LogLines != 185 || s.Requests != 185 || s.Writes != 37 || s.ScaleCycles != 2 ||
		s.ScaleUp.MaxMS != 700 || s.API.N != 74 || s.API.MaxMS != 3 || len(s.Memory) != 2 || s.WarmUpS != 30 {
		t.Errorf("summary: %+v", s)
	}
	for _, m := range s.Memory {
		// 30 s warm-up: the samples from t=30 on, 31 of them.
		if !m.Flat || m.Samples != 31 {
			t.Errorf("memory %+v", m)
		}
	}
}

func TestJudgeFailures(t *testing.T) {
	cases := []struct {
		name     string
		change   func(*Result)
		criteria map[string]string
	}{
		{"component restart", func(r *Result) {
			r.Samples[20].Restarts = map[string]int{"kubelet": 1}
		}, map[string]string{"restarts": Fail}},
		{"not running", func(r *Result) {
			r.Samples[20].NotRunning = []string{"etcd"}
		}, map[string]string{"restarts": Fail}},
		{"container restart", func(r *Result) {
			r.Samples[30].PodRestarts = 1
		}, map[string]string{"restarts": Fail}},
		{"failed probe", func(r *Result) {
			r.Events = append(r.Events, Event{T: 12, Kind: EventFailedProbe, Part: "service", Message: "round 3: 1 of 5 requests failed"})
		}, map[string]string{"failed-probes": Fail}},
		{"a restart event alone is not a failed probe", func(r *Result) {
			r.Events = append(r.Events, Event{T: 12, Kind: EventRestart, Part: "pods", Message: "why"})
		}, map[string]string{}},
		{"memory grows", func(r *Result) {
			for i := range r.Samples {
				r.Samples[i].RSSKiB["etcd"] = int64(50+i*2) * 1024
			}
		}, map[string]string{"memory-flat": Fail}},
		{"too short to judge memory", func(r *Result) {
			r.Samples = r.Samples[:8] // up to t=35 s: 2 samples after the warm-up
		}, map[string]string{"memory-flat": Unknown}},
		{"shim excess for 2 samples is churn", func(r *Result) {
			r.Samples[10].Shims, r.Samples[11].Shims = 10, 10
		}, map[string]string{}},
		{"shim excess for 3 samples is a leak", func(r *Result) {
			r.Samples[10].Shims, r.Samples[11].Shims, r.Samples[12].Shims = 10, 11, 10
		}, map[string]string{"leaks": Fail}},
		{"shims left after cleanup", func(r *Result) {
			r.Final.Shims, r.Final.LeakedShims = 4, 1
		}, map[string]string{"leaks": Fail}},
		{"process of a removed pod", func(r *Result) {
			r.Events = append(r.Events, Event{Kind: EventLeak, Part: "deployment-cycle", Message: "pod scaler-x left 1 process"})
		}, map[string]string{"leaks": Fail}},
		{"interrupted", func(r *Result) {
			r.Interrupted, r.ElapsedS = true, 100
		}, map[string]string{"complete": Fail}},
		{"namespace left", func(r *Result) {
			r.Final.NamespaceDeleted, r.Final.Error = false, "the namespace kprobe-soak is not gone"
		}, map[string]string{"complete": Fail}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := clean()
			c.change(r)
			Judge(r)
			got := outcomes(r)
			for name, o := range got {
				want := c.criteria[name]
				if want == "" {
					want = Pass
				}
				if o != want {
					t.Errorf("%s: %s, want %s (%+v)", name, o, want, r.Verdict.Criteria)
				}
			}
			if r.Verdict.OK != (len(c.criteria) == 0) {
				t.Errorf("verdict ok = %v", r.Verdict.OK)
			}
		})
	}
}

func TestJudgeDetails(t *testing.T) {
	r := clean()
	r.Events = append(r.Events, Event{T: 42, Kind: EventFailedProbe, Part: "logs", Message: "lines tick 41..41 never arrived"})
	r.ProcessAttribution = false
	Judge(r)
	for _, c := range r.Verdict.Criteria {
		switch c.Name {
		case "failed-probes":
			if !strings.Contains(c.Detail, "logs at 42s: lines tick 41..41 never arrived") {
				t.Errorf("failed-probes detail: %s", c.Detail)
			}
		case "leaks":
			if !strings.Contains(c.Detail, "shims only") {
				t.Errorf("leaks detail does not say processes are not attributed: %s", c.Detail)
			}
		case "memory-flat":
			if !strings.Contains(c.Detail, "kube-apiserver 290→290 MiB (+0.0%; steady trend +0.0 MiB)") {
				t.Errorf("memory detail: %s", c.Detail)
			}
		}
	}
}

func TestStat(t *testing.T) {
	var ms []float64
	for i := 1; i <= 100; i++ {
		ms = append(ms, float64(i))
	}
	if s := stat(ms); s != (Stat{N: 100, P50MS: 50, P95MS: 95, MaxMS: 100}) {
		t.Errorf("stat 1..100 = %+v", s)
	}
	if s := stat(nil); s != (Stat{}) {
		t.Errorf("stat of nothing = %+v", s)
	}
	if s := stat([]float64{7}); s != (Stat{N: 1, P50MS: 7, P95MS: 7, MaxMS: 7}) {
		t.Errorf("stat of one = %+v", s)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestRealSoak judges a real 3-minute soak again (testdata/soak-3m.json,
// `kprobe soak --duration 3m` on this project's VM) and renders its text
// summary (testdata/soak-3m.txt).
func TestRealSoak(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "soak-3m.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recorded Result
	if err := json.Unmarshal(data, &recorded); err != nil {
		t.Fatal(err)
	}
	again := recorded
	again.Summary, again.Verdict = Summary{}, Verdict{}
	Judge(&again)
	// The recording predates the steady-state memory rule: the outcomes
	// and the numbers it recorded must still come out; the steady-state
	// numbers and the memory detail are new.
	outcomes := func(v Verdict) []string {
		var out []string
		for _, c := range v.Criteria {
			out = append(out, c.Name+"="+string(c.Outcome))
		}
		return out
	}
	summary := again.Summary
	summary.Memory = append([]MemoryTrend(nil), summary.Memory...)
	for i := range summary.Memory {
		summary.Memory[i].SteadyMiB, summary.Memory[i].SteadyGrowthMiB = 0, 0
	}
	if again.Verdict.OK != recorded.Verdict.OK || !reflect.DeepEqual(outcomes(again.Verdict), outcomes(recorded.Verdict)) || !reflect.DeepEqual(summary, recorded.Summary) {
		t.Errorf("judged again:\n%+v\n%+v\nrecorded:\n%+v\n%+v", again.Verdict, summary, recorded.Verdict, recorded.Summary)
	}
	if !again.Verdict.OK || len(again.Samples) != 36 {
		t.Errorf("the recorded soak was stable with 36 samples: ok %v, %d samples", again.Verdict.OK, len(again.Samples))
	}
	var b bytes.Buffer
	if err := WriteText(&b, &again); err != nil {
		t.Fatal(err)
	}
	probetest.Golden(t, filepath.Join("testdata", "soak-3m.txt"), b.Bytes(), *update, "run go test ./adapters/soak -run TestRealSoak -update")
}
