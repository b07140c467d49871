package capture_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/capture"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/suite"
)

func TestMain(m *testing.M) { probetest.Main(m) }

// TestReplayReproducesTheLiveScan captures this machine and replays the
// capture: every probe must reach the same status and the same facts,
// which proves the capture holds every file and answer the probes use.
func TestReplayReproducesTheLiveScan(t *testing.T) {
	if testing.Short() {
		t.Skip("live scan")
	}
	all := suite.All()
	rec, env := capture.NewRecorder(probes.LiveEnv(t.TempDir()))
	live := probes.Run(context.Background(), env, all, probes.Options{})
	dir := t.TempDir()
	if err := rec.Write(dir, "/", capture.Provenance{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	renv, err := capture.ReplayEnv(dir, all)
	if err != nil {
		t.Fatal(err)
	}
	replay := probes.Run(context.Background(), renv, all, probes.Options{})
	for i, l := range live.Results {
		r := replay.Results[i]
		if l.Status != r.Status {
			t.Errorf("%s: live %s, replay %s (%s)", l.ID, l.Status, r.Status, r.Error)
		}
	}
	for _, k := range live.Facts.Keys() {
		lv, rv := fmt.Sprint(live.Facts[k]), fmt.Sprint(replay.Facts[k])
		if strings.HasSuffix(k, "free_bytes") {
			// Two probes statfs the same path a few ms apart; the disk
			// moves in between and the capture keeps the first answer.
			a, _ := live.Facts.Int(k)
			b, _ := replay.Facts.Int(k)
			if diff := a - b; diff < 0 && -diff < a/100 || diff >= 0 && diff < a/100+1 {
				continue
			}
		}
		if lv != rv && !redacted(k) {
			t.Errorf("fact %s: live %s, replay %s", k, lv, rv)
		}
	}
	for _, k := range replay.Facts.Keys() {
		if _, ok := live.Facts[k]; !ok {
			t.Errorf("fact %s appeared only in the replay", k)
		}
	}
}

// redacted lists facts whose text the capture redacts on purpose.
func redacted(key string) bool {
	// The cgroup path carries a container or session ID.
	return key == "cgroups.self_path"
}
