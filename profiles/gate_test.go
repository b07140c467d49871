package profiles_test

import (
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/profiles"
)

// withoutContainer is f without the container probe's facts, as a scan
// that skipped it gives.
func withoutContainer(f probes.Facts) probes.Facts {
	out := probes.Facts{}
	for k, v := range f {
		if len(k) < len("container.") || k[:len("container.")] != "container." {
			out[k] = v
		}
	}
	return out
}

// TestContainerGateKeepsVerdict replays every captured sandbox: where
// ContainerNeeded says the container probe cannot change the verdict,
// judging without its facts gives the same rung as with them, for every
// engine, and the profile is still plannable; where it is needed, the
// container answer is a requirement of the rung above the verdict or of
// the verdict itself. At least one fixture must be gated (gVisor has no
// veth links) and the host must not be.
func TestContainerGateKeepsVerdict(t *testing.T) {
	gated := map[string]bool{}
	probetest.EachFixture(t, "../probes/testdata/sandboxes", func(t *testing.T, name string, s *probes.Scan) {
		others := withoutContainer(s.Facts)
		needed, why := profiles.ContainerNeeded(others)
		if needed {
			if why != "" {
				t.Errorf("needed with a reason %q", why)
			}
			return
		}
		gated[name] = true
		t.Logf("not needed: %s", why)
		for _, engine := range []string{"", "k3s", "kubernetes"} {
			with, without := profiles.JudgeFor(s.Facts, engine), profiles.JudgeFor(others, engine)
			if with.Rung != without.Rung {
				t.Errorf("engine %q: verdict %s with the container facts, %s without", engine, with.Rung, without.Rung)
			}
			if profiles.Index(without.Rung) <= profiles.Index(profiles.T2) {
				t.Errorf("engine %q: gated at verdict %s, a rung that needs containers", engine, without.Rung)
			}
		}
		if missing := profiles.MissingFacts(others); len(missing) != len(profiles.MissingFacts(s.Facts)) {
			t.Errorf("missing facts without the container probe: %v, with it: %v", missing, profiles.MissingFacts(s.Facts))
		}
	})
	if !gated["gvisor-run"] {
		t.Errorf("gvisor-run (no veth or bridge links) not gated; gated: %v", gated)
	}
	if gated["host"] {
		t.Error("the host is gated: its verdict T0 needs containers")
	}
}

// TestContainerNeeded: unknown facts never make the container probe
// unneeded, a k3s-only requirement (vxlan) does not, and a worker
// requirement not met does.
func TestContainerNeeded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		facts probes.Facts
		want  bool
	}{
		{"no facts", probes.Facts{}, true},
		{"all unknown", probes.Facts{"ns.mount": probes.Unknown, "net.veth": probes.Unknown, "net.bridge": probes.Unknown}, true},
		{"vxlan missing (k3s only, T0)", probes.Facts{"net.vxlan": probes.No}, true},
		{"overlay refused (T0)", probes.Facts{"overlay.mount_datadir": probes.No}, true},
		{"no veth (T2)", probes.Facts{"net.veth": probes.No, "net.bridge": probes.Yes}, false},
		{"no mount namespaces (T2)", probes.Facts{"ns.mount": probes.No, "ns.userns_mount": probes.No}, false},
		{"512 MiB of memory (a worker needs 1 GiB)", probes.Facts{"res.memory_bytes": int64(512 << 20)}, false},
	} {
		got, why := profiles.ContainerNeeded(tc.facts)
		if got != tc.want {
			t.Errorf("%s: needed %v (%s), want %v", tc.name, got, why, tc.want)
		}
		if (why == "") != got {
			t.Errorf("%s: needed %v with reason %q: a reason goes with not needed only", tc.name, got, why)
		}
	}
}

// TestContainerHold: over the captured sandboxes, the container probe is
// held only where the kernel is gVisor's, and there the gate closes once
// network.netns has answered (so a held probe is never started); the
// hold waits while the kernel probe has not answered, and ends once
// net.veth is known.
func TestContainerHold(t *testing.T) {
	probetest.EachFixture(t, "../probes/testdata/sandboxes", func(t *testing.T, name string, s *probes.Scan) {
		others := withoutContainer(s.Facts)
		early := probes.Facts{}
		for k, v := range others {
			if strings.HasPrefix(k, "kernel.") {
				early[k] = v
			}
		}
		hold := profiles.ContainerHold(early)
		if want := probes.TriOf(others.Tri("kernel.emulated") == probes.Yes); hold != want {
			t.Errorf("hold on the kernel facts = %s, want %s", hold, want)
		}
		if hold == probes.Yes {
			if needed, _ := profiles.ContainerNeeded(others); needed {
				t.Errorf("held in a sandbox where the probe is needed")
			}
		}
		if h := profiles.ContainerHold(others); h != probes.No {
			t.Errorf("hold with every fact = %s, want no", h)
		}
	})
	if h := profiles.ContainerHold(probes.Facts{}); h != probes.Unknown {
		t.Errorf("hold before the kernel probe answered = %s, want unknown", h)
	}
}
