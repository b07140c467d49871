package launch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

// TestRunPhases: phases run in order, named ones are recorded with their
// outcome, the first failure stops the list and is handled as its phase
// says.
func TestRunPhases(t *testing.T) {
	dir := t.TempDir()
	newRun := func() *phaseContext {
		plan := &adapters.Plan{Rung: profiles.T3}
		_, cancel, res, tr := begin(context.Background(), adapters.EngineKubernetes, plan, Options{DataDir: dir, Wait: time.Minute})
		t.Cleanup(cancel)
		return &phaseContext{plan: plan, o: Options{DataDir: dir}, res: res, t: tr}
	}
	var ran []string
	step := func(name string, fail onFailure, err error) phase {
		return phase{name: name, fail: fail, do: func(context.Context, *phaseContext) error {
			ran = append(ran, name)
			return err
		}}
	}
	boom := errors.New("boom")

	r := newRun()
	res, err := runPhases(context.Background(), r, []phase{step("a", failReturn, nil), {do: func(context.Context, *phaseContext) error {
		ran = append(ran, "unnamed")
		return nil
	}}, step("b", failReturn, nil)})
	if err != nil || strings.Join(ran, ",") != "a,unnamed,b" || len(res.Phases) != 2 || !res.Phases[0].Done || res.Phases[1].Name != "b" {
		t.Fatalf("ran %v, phases %+v, err %v", ran, res.Phases, err)
	}

	for _, tc := range []struct {
		fail onFailure
		says string
	}{
		{failReturn, "boom"},
		{failUndoShims, "boom"},
		{failLeaveRunning, "the cluster's processes are still running"},
	} {
		ran = nil
		res, err := runPhases(context.Background(), newRun(), []phase{step("a", failReturn, nil), step("b", tc.fail, boom), step("c", failReturn, nil)})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("fail mode %d: %v, want %q", tc.fail, err, tc.says)
		}
		if strings.Join(ran, ",") != "a,b" {
			t.Errorf("fail mode %d: ran %v after a failure", tc.fail, ran)
		}
		if n := len(res.Phases); n != 2 || res.Phases[1].Done || res.Phases[1].Detail != "boom" {
			t.Errorf("fail mode %d: phases %+v", tc.fail, res.Phases)
		}
	}
}

// TestEnginePhaseNames: each engine's list at each rung, as the progress
// shows it (and docs/launch.md describes it).
func TestEnginePhaseNames(t *testing.T) {
	names := func(ps []phase) string {
		var out []string
		for _, p := range ps {
			if p.name != "" {
				out = append(out, p.name)
			}
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		engine string
		plan   *adapters.Plan
		want   string
	}{
		{adapters.EngineKubernetes, &adapters.Plan{Rung: profiles.T0}, "preflight prepare supervisor api node pod"},
		{adapters.EngineKubernetes, &adapters.Plan{Rung: profiles.T3, Settings: []adapters.Setting{{Component: adapters.Cluster, Name: "disable-agent", Value: "true"}}}, "preflight prepare supervisor api"},
		{adapters.EngineK3s, &adapters.Plan{Rung: profiles.T0}, "preflight prepare supervisor api node pod"},
		{adapters.EngineK3s, &adapters.Plan{Rung: profiles.T3, Settings: []adapters.Setting{{Component: adapters.Cluster, Name: "disable-agent", Value: "true"}}}, "preflight prepare supervisor api"},
	} {
		r := &phaseContext{plan: tc.plan, o: Options{DataDir: t.TempDir()}}
		ps := upstreamPhases(r)
		if tc.engine == adapters.EngineK3s {
			ps = k3sPhases(r)
		}
		if got := names(ps); got != tc.want {
			t.Errorf("%s at %s: %q, want %q", tc.engine, tc.plan.Rung, got, tc.want)
		}
	}
}
