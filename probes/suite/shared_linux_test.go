package suite_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/devices"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/probes/sysctls"
)

// sharers are the suite's probes that may share a child.
func sharers(t *testing.T) []probes.Probe {
	var out []probes.Probe
	for _, p := range suite.All() {
		if _, ok := p.(probes.ChildSharer); ok {
			out = append(out, p)
		}
	}
	if len(out) < 2 {
		t.Fatalf("%d probes share a child, want at least 2", len(out))
	}
	return out
}

// loggingExe writes a child executable that logs which entry point each
// start asks for (a shared child has a data dir and two or more pairs of
// probe ID and temp dir, a child of its own ID, data dir, temp dir) and
// then runs this test binary as that entry point.
func loggingExe(t *testing.T) (exe, log string) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exe, log = filepath.Join(dir, probes.ProbeChildName), filepath.Join(dir, "starts")
	script := "#!/bin/bash\nif [ $# -ge 5 ]; then n=kprobe-active-probes; else n=kprobe-active-probe; fi\n" +
		"echo $n >> " + log + "\nexec -a $n " + self + " \"$@\"\n"
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return exe, log
}

// TestSharedChildKeepsFacts runs the light active probes as a scan does,
// in one shared child, and each in a child of its own: the facts must be
// equal, and the shared run must have started exactly one child.
func TestSharedChildKeepsFacts(t *testing.T) {
	probetest.RequireRoot(t)
	ps := sharers(t)
	dataDir := t.TempDir()
	run := func(share bool) (probes.Facts, []string) {
		exe, log := loggingExe(t)
		env := probes.LiveEnv(dataDir)
		r := &probes.ChildRunner{DataDir: dataDir, Exe: exe}
		env.Active = r
		if !share {
			env.Active = struct{ probes.ActiveRunner }{r} // no Prepare: each alone
		}
		s := probes.Run(context.Background(), env, ps, probes.Options{})
		for _, res := range s.Results {
			if res.Error != "" {
				t.Errorf("share=%v: %s: %s", share, res.ID, res.Error)
			}
		}
		b, _ := os.ReadFile(log)
		return s.Facts, strings.Fields(string(b))
	}
	shared, sharedStarts := run(true)
	alone, aloneStarts := run(false)
	if !reflect.DeepEqual(shared, alone) {
		t.Errorf("facts differ:\nshared %v\nalone  %v", shared, alone)
	}
	if want := []string{"kprobe-active-probes"}; !reflect.DeepEqual(sharedStarts, want) {
		t.Errorf("shared run started %v, want %v", sharedStarts, want)
	}
	if len(aloneStarts) != len(ps) {
		t.Errorf("alone run started %v, want %d children", aloneStarts, len(ps))
	}
	t.Logf("%d probes, %d facts; starts shared %v, alone %v", len(ps), len(shared), sharedStarts, aloneStarts)
}

// TestSharedChildFallsBack: a kprobe-probe of another build that knows no
// shared entry point (exit code 3, no reply) does not lose the probes:
// each runs alone, and there through the running binary.
func TestSharedChildFallsBack(t *testing.T) {
	stale := filepath.Join(t.TempDir(), probes.ProbeChildName)
	if err := os.WriteFile(stale, []byte("#!/bin/sh\necho \"unknown probe $1\" >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &probes.ChildRunner{DataDir: t.TempDir(), Exe: stale}
	ps := []probes.Probe{devices.MknodProbe{}, sysctls.WriteProbe{}}
	r.Prepare(ps)
	for _, p := range ps {
		obs, err := r.RunActive(context.Background(), p)
		if obs == nil || len(obs.Facts) == 0 {
			t.Errorf("%s: nothing observed after the shared child failed: %+v, %v", p.ID(), obs, err)
		}
	}
}
