package profiles

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/suite"
)

// zooExpect is the built-in profile each sandbox of the zoo (test/zoo
// list) must match.
var zooExpect = map[string]string{
	"host":               "vm-or-host",
	"gvisor-do":          "gvisor-overlay",
	"gvisor-do-hostnet":  "gvisor-overlay",
	"gvisor-rootless":    "gvisor-overlay",
	"gvisor-run-overlay": "gvisor-overlay",
	"gvisor-run":         "gvisor-9p",
	"gvisor-run-shared":  "gvisor-9p",
	"userns-root":        "rootless-userns",
	"userns-user":        "rootless-userns",
	"podman-rootless":    "rootless-userns",
	"runc-rootless":      "rootless-userns",
	"bwrap":              "bubblewrap",
	"runc-docker":        "docker-unprivileged",
	"crun-docker":        "docker-unprivileged",
	"runc-privileged":    "docker-privileged",
	"podman":             "podman",
}

const sandboxFixtures = "../probes/testdata/sandboxes"

// minMargin is how far the runner-up must trail the expected profile.
const minMargin = 0.05

// TestZooFixturesMatch replays every captured sandbox through the probe
// suite and checks the built-in profile it matches.
func TestZooFixturesMatch(t *testing.T) {
	probetest.EachFixture(t, sandboxFixtures, func(t *testing.T, name string, s *probes.Scan) {
		want, ok := zooExpect[name]
		if !ok {
			t.Fatalf("no expectation for fixture %s: add it to zooExpect", name)
		}
		checkMatch(t, s.Facts, want)
	})
}

func checkMatch(t *testing.T, facts probes.Facts, want string) {
	t.Helper()
	bs, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	ranked := Rank(facts, bs)
	best, score, why := Match(facts)
	if best == nil || best.Name != want {
		name := "nothing"
		if best != nil {
			name = best.Name
		}
		t.Fatalf("matched %s (%.2f), want %s\nranking:\n%s", name, score, want, rankingText(ranked))
	}
	if score != ranked[0].Score || !slices.Equal(why, ranked[0].Why) {
		t.Errorf("Match and Rank disagree: %.2f %q vs %+v", score, why, ranked[0])
	}
	// The answer must not hang on a hair: the runner-up trails clearly.
	if len(ranked) > 1 && score-ranked[1].Score < minMargin {
		t.Errorf("%s (%.2f) is too close to %s (%.2f)\nranking:\n%s", want, score, ranked[1].Name, ranked[1].Score, rankingText(ranked))
	}
	t.Logf("%s %.2f (next %s %.2f): %s", best.Name, score, ranked[1].Name, ranked[1].Score, strings.Join(why, "; "))
}

func rankingText(ranked []Candidate) string {
	var b strings.Builder
	for _, c := range ranked {
		fmt.Fprintf(&b, "  %-20s %.2f: %s\n", c.Name, c.Score, strings.Join(c.Why, "; "))
	}
	return b.String()
}

// zooMeasured holds the identifying facts every sandbox of the zoo showed
// (test/zoo/out/*.json, kprobe 8e3d568, 2026-11-28), for the sandboxes
// whose captures have not landed under probes/testdata/sandboxes yet.
var zooMeasured = []struct {
	name  string
	facts probes.Facts
}{
	{"host", probes.Facts{"priv.userns": probes.No, "identity.ide": "none", "kernel.emulated": probes.No, "identity.sandbox": "vm", "fs.root.type": "ext4", "priv.cap_sys_admin": probes.Yes, "cgroups.layout": "hybrid", "dev.kmsg": "readable", "cgroups.writable": probes.Yes, "container.best": "full", "ns.user": probes.Yes}},
	{"gvisor-do", probes.Facts{"priv.userns": probes.No, "identity.ide": "none", "kernel.emulated": probes.Yes, "identity.sandbox": "gvisor", "fs.root.type": "overlay", "priv.cap_sys_admin": probes.Yes, "cgroups.layout": "none", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.Yes}},
	{"gvisor-rootless", probes.Facts{"priv.userns": probes.No, "identity.ide": "none", "kernel.emulated": probes.Yes, "identity.sandbox": "gvisor", "fs.root.type": "overlay", "priv.cap_sys_admin": probes.Yes, "cgroups.layout": "none", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.Yes}},
	{"gvisor-run", probes.Facts{"priv.userns": probes.No, "identity.ide": "none", "kernel.emulated": probes.Yes, "identity.sandbox": "gvisor", "fs.root.type": "9p", "priv.cap_sys_admin": probes.No, "cgroups.layout": "none", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.Yes}},
	{"gvisor-run-shared", probes.Facts{"priv.userns": probes.No, "identity.ide": "none", "kernel.emulated": probes.Yes, "identity.sandbox": "gvisor", "fs.root.type": "9p", "priv.cap_sys_admin": probes.No, "cgroups.layout": "none", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.Yes}},
	{"gvisor-run-overlay", probes.Facts{"priv.userns": probes.No, "identity.ide": "none", "kernel.emulated": probes.Yes, "identity.sandbox": "gvisor", "fs.root.type": "overlay", "priv.cap_sys_admin": probes.No, "cgroups.layout": "none", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.Yes}},
	{"userns-root", probes.Facts{"priv.userns": probes.Yes, "identity.ide": "none", "kernel.emulated": probes.No, "identity.sandbox": "userns", "fs.root.type": "ext4", "priv.cap_sys_admin": probes.Yes, "cgroups.layout": "hybrid", "dev.kmsg": "EPERM", "cgroups.writable": probes.Yes, "container.best": "full", "ns.user": probes.Yes}},
	{"userns-user", probes.Facts{"priv.userns": probes.Yes, "identity.ide": "none", "kernel.emulated": probes.No, "identity.sandbox": "userns", "fs.root.type": "ext4", "priv.cap_sys_admin": probes.Yes, "cgroups.layout": "hybrid", "dev.kmsg": "EPERM", "cgroups.writable": probes.No, "container.best": "no-cgroups", "ns.user": probes.Yes}},
	{"bwrap", probes.Facts{"priv.userns": probes.Yes, "identity.ide": "none", "kernel.emulated": probes.No, "identity.sandbox": "bubblewrap", "fs.root.type": "tmpfs", "priv.cap_sys_admin": probes.No, "cgroups.layout": "none", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.Yes}},
	{"runc-docker", probes.Facts{"priv.userns": probes.No, "identity.ide": "none", "kernel.emulated": probes.No, "identity.sandbox": "container", "fs.root.type": "ext4", "priv.cap_sys_admin": probes.No, "cgroups.layout": "v1", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.No}},
	{"runc-privileged", probes.Facts{"priv.userns": probes.No, "identity.ide": "none", "kernel.emulated": probes.No, "identity.sandbox": "container", "fs.root.type": "ext4", "priv.cap_sys_admin": probes.Yes, "cgroups.layout": "v1", "dev.kmsg": "readable", "cgroups.writable": probes.Yes, "container.best": "full", "ns.user": probes.Yes}},
	{"runc-rootless", probes.Facts{"priv.userns": probes.Yes, "identity.ide": "none", "kernel.emulated": probes.No, "identity.sandbox": "container", "fs.root.type": "ext4", "priv.cap_sys_admin": probes.No, "cgroups.layout": "v1", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.Yes}},
	{"crun-docker", probes.Facts{"priv.userns": probes.No, "identity.ide": "none", "kernel.emulated": probes.No, "identity.sandbox": "container", "fs.root.type": "ext4", "priv.cap_sys_admin": probes.No, "cgroups.layout": "v1", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.No}},
	{"podman", probes.Facts{"priv.userns": probes.No, "identity.ide": "none", "kernel.emulated": probes.No, "identity.sandbox": "podman", "fs.root.type": "overlay", "priv.cap_sys_admin": probes.No, "cgroups.layout": "v1", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.Yes}},
	{"podman-rootless", probes.Facts{"priv.userns": probes.Yes, "identity.ide": "none", "kernel.emulated": probes.No, "identity.sandbox": "podman", "fs.root.type": "ext4", "priv.cap_sys_admin": probes.No, "cgroups.layout": "v1", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.Yes}},
}

func TestMatchMeasuredZoo(t *testing.T) {
	for _, z := range zooMeasured {
		t.Run(z.name, func(t *testing.T) { checkMatch(t, z.facts, zooExpect[z.name]) })
	}
}

// TestMatchDocumented covers the sandboxes the zoo does not have, from the
// markers and facts their documentation gives (prior-art.md §2.2, the
// identity probe's classify tests).
func TestMatchDocumented(t *testing.T) {
	base := func(edit probes.Facts) probes.Facts {
		f := probes.Facts{"identity.ide": "none", "kernel.emulated": probes.No, "priv.userns": probes.No,
			"priv.cap_sys_admin": probes.Yes, "ns.user": probes.Yes}
		for k, v := range edit {
			f[k] = v
		}
		return f
	}
	for _, tc := range []struct {
		name  string
		facts probes.Facts
		want  string
	}{
		{"unprivileged LXD container", base(probes.Facts{"identity.sandbox": "lxc", "priv.userns": probes.Yes, "fs.root.type": "zfs",
			"cgroups.layout": "v2", "dev.kmsg": "ENOENT", "cgroups.writable": probes.Yes}), "lxc"},
		{"unprivileged LXD with /dev/kmsg passed", base(probes.Facts{"identity.sandbox": "lxc", "priv.userns": probes.Yes, "fs.root.type": "btrfs",
			"cgroups.layout": "v2", "dev.kmsg": "readable", "cgroups.writable": probes.Yes, "container.best": "full"}), "lxc"},
		{"privileged LXC", base(probes.Facts{"identity.sandbox": "lxc", "fs.root.type": "ext4", "cgroups.layout": "v2",
			"dev.kmsg": "ENOENT", "cgroups.writable": probes.Yes, "container.best": "full"}), "lxc"},
		// Matched to wsl2 before nspawn had a profile (issue #18).
		{"systemd-nspawn", base(probes.Facts{"identity.sandbox": "nspawn", "fs.root.type": "ext4", "cgroups.layout": "v2",
			"dev.kmsg": "ENOENT", "cgroups.writable": probes.Yes, "container.best": "full"}), "nspawn"},
		{"WSL2", base(probes.Facts{"identity.sandbox": "wsl", "fs.root.type": "ext4", "cgroups.layout": "hybrid",
			"dev.kmsg": "readable", "cgroups.writable": probes.Yes, "container.best": "full"}), "wsl2"},
		{"WSL2 after .wslconfig", base(probes.Facts{"identity.sandbox": "wsl", "fs.root.type": "ext4", "cgroups.layout": "v2",
			"dev.kmsg": "readable", "cgroups.writable": probes.Yes}), "wsl2"},
		{"Codespaces with docker-in-docker", base(probes.Facts{"identity.sandbox": "docker", "identity.ide": "codespaces", "fs.root.type": "overlay",
			"cgroups.layout": "v2", "dev.kmsg": "readable", "cgroups.writable": probes.Yes, "container.best": "full"}), "codespaces"},
		{"Codespaces without privileges", base(probes.Facts{"identity.sandbox": "docker", "identity.ide": "codespaces", "fs.root.type": "overlay",
			"priv.cap_sys_admin": probes.No, "cgroups.layout": "v2", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.No}), "codespaces"},
		{"Gitpod", base(probes.Facts{"identity.sandbox": "kubernetes", "identity.ide": "gitpod", "priv.userns": probes.Yes, "fs.root.type": "overlay",
			"cgroups.layout": "v2", "dev.kmsg": "ENOENT", "cgroups.writable": probes.Yes}), "gitpod"},
		{"Docker on a cgroup v2 host", base(probes.Facts{"identity.sandbox": "docker", "fs.root.type": "overlay", "priv.cap_sys_admin": probes.No,
			"cgroups.layout": "v2", "dev.kmsg": "ENOENT", "cgroups.writable": probes.No, "container.best": "none", "ns.user": probes.No}), "docker-unprivileged"},
		{"docker run --privileged on a cgroup v2 host", base(probes.Facts{"identity.sandbox": "docker", "fs.root.type": "overlay",
			"cgroups.layout": "v2", "dev.kmsg": "readable", "cgroups.writable": probes.Yes, "container.best": "full"}), "docker-privileged"},
		{"current gVisor in a web IDE", base(probes.Facts{"identity.sandbox": "gvisor", "kernel.emulated": probes.Yes, "fs.root.type": "9p",
			"priv.cap_sys_admin": probes.Yes, "cgroups.layout": "none", "dev.kmsg": "ENOENT"}), "gvisor-9p"},
		{"bare metal with cgroup v2", base(probes.Facts{"identity.sandbox": "host", "fs.root.type": "xfs", "cgroups.layout": "v2",
			"dev.kmsg": "readable", "cgroups.writable": probes.Yes, "container.best": "full"}), "vm-or-host"},
		{"a passive scan of gVisor", probes.Facts{"identity.sandbox": "gvisor", "kernel.emulated": probes.Yes, "fs.root.type": "9p",
			"priv.userns": probes.No, "identity.ide": "none"}, "gvisor-9p"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkMatch(t, tc.facts, tc.want) })
	}
}

func TestMatchExplains(t *testing.T) {
	bs, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	var run probes.Facts
	for _, z := range zooMeasured {
		if z.name == "gvisor-run" {
			run = z.facts
		}
	}
	ranked := Rank(run, bs)
	top := ranked[0]
	if top.Name != "gvisor-9p" || top.Score != 1 || len(top.Differ)+len(top.Unknown) != 0 {
		t.Fatalf("gvisor-run: %+v", top)
	}
	for _, w := range []string{"identity.sandbox=gvisor matches", "fs.root.type=9p matches", "kernel.emulated=yes matches"} {
		if !slices.Contains(top.Why, w) {
			t.Errorf("why %q lacks %q", top.Why, w)
		}
	}
	// The runner-up says what differs.
	for _, c := range ranked {
		if c.Name == "gvisor-overlay" {
			if !slices.Contains(c.Why, "fs.root.type is 9p here, overlay in gvisor-overlay") || !slices.Contains(c.Differ, "fs.root.type") {
				t.Errorf("gvisor-overlay against gvisor-run: %+v", c)
			}
		}
		if c.Name == "rootless-userns" && !slices.Contains(c.Why, "identity.sandbox=gvisor here, rootless-userns does not say") {
			t.Errorf("rootless-userns does not say it lacks an identity: %q", c.Why)
		}
	}
	// An unknown fact is neither agreement nor contradiction.
	partial := probes.Facts{"identity.sandbox": "gvisor", "kernel.emulated": probes.Unknown, "dev.kmsg": "unknown"}
	for _, c := range Rank(partial, bs) {
		if c.Name == "gvisor-9p" {
			if !slices.Contains(c.Unknown, "kernel.emulated") || !slices.Contains(c.Unknown, "dev.kmsg") || len(c.Differ) != 0 {
				t.Errorf("unknown facts: %+v", c)
			}
		}
	}
	// Weights are data: every key is a declared fact, listed once, heaviest first.
	schema := probes.SchemaOf(suite.All())
	seen := map[string]bool{}
	for i, mk := range MatchKeys {
		if _, ok := schema[mk.Key]; !ok || seen[mk.Key] || mk.Weight <= 0 {
			t.Errorf("MatchKeys[%d] %+v: unknown, repeated or weightless", i, mk)
		}
		if i > 0 && mk.Weight > MatchKeys[i-1].Weight {
			t.Errorf("MatchKeys is not sorted by weight at %s", mk.Key)
		}
		seen[mk.Key] = true
	}
}

func TestMatchNothingClose(t *testing.T) {
	if best, score, why := Match(probes.Facts{}); best != nil || score != 0 || len(why) == 0 {
		t.Errorf("no facts: %v %.2f %q", best, score, why)
	}
	// A sandbox unlike any built-in profile is not forced onto one.
	odd := probes.Facts{"identity.sandbox": "nspawn", "identity.ide": "replit", "kernel.emulated": probes.Yes, "priv.userns": probes.Yes,
		"fs.root.type": "virtiofs", "cgroups.layout": "v2", "dev.kmsg": "EACCES"}
	if best, score, _ := Match(odd); best != nil || score >= MinMatchScore {
		t.Errorf("an odd sandbox matched %v at %.2f", best, score)
	}
}

func TestOverlay(t *testing.T) {
	b, err := Builtin("gvisor-9p")
	if err != nil {
		t.Fatal(err)
	}
	fresh := &Profile{
		APIVersion: APIVersion, Kind: Kind, KprobeVersion: "v9",
		Identity: Identity{Sandbox: "gvisor", Confidence: "high", Markers: []string{"fresh marker"}},
		Facts: probes.Facts{
			"identity.sandbox":    "gvisor",
			"kernel.emulated":     probes.Yes,
			"fs.root.type":        "9p",
			"dev.kmsg_readable":   probes.Yes,     // differs: the scan wins
			"container.best":      "",             // not observed: the built-in profile fills it
			"net.veth":            probes.Unknown, // not observed either
			"res.memory_bytes":    int64(8 << 30), // not in the built-in profile
			"cgroups.controllers": []string{"cpu"},
		},
		Findings: []probes.Finding{{Code: "KP-X", Severity: probes.Warn}},
	}
	p, overridden, filled := Overlay(b, fresh)
	if !slices.Equal(overridden, []string{"cgroups.controllers", "dev.kmsg_readable"}) {
		t.Errorf("overridden %v", overridden)
	}
	if !slices.Contains(filled, "container.best") || !slices.Contains(filled, "net.veth") || slices.Contains(filled, "fs.root.type") {
		t.Errorf("filled %v", filled)
	}
	f := p.Facts
	if f.Tri("dev.kmsg_readable") != probes.Yes || f.String("container.best") != "none" || f.Tri("net.veth") != probes.No ||
		f["res.memory_bytes"] != int64(8<<30) || f.String("kernel.release") != "4.4.0" || !slices.Equal(f.List("cgroups.controllers"), []string{"cpu"}) {
		t.Errorf("merged facts wrong: %v", f)
	}
	if p.Name != "gvisor-9p" || p.Identity.Markers[0] != "fresh marker" || p.KprobeVersion != "v9" || len(p.Findings) != 1 {
		t.Errorf("identity, version and findings must be the scan's: %+v", p)
	}
	if p.Verdict.Rung != Judge(f).Rung || p.Capabilities != Derive(f) || p.Verdict.Rung != TP {
		t.Errorf("verdict %s / capabilities not re-derived", p.Verdict.Rung)
	}
	if !strings.Contains(p.Description, "gvisor-9p") {
		t.Errorf("description %q", p.Description)
	}
	// Neither input changed.
	if b.Facts.Tri("dev.kmsg_readable") != probes.No || fresh.Facts.String("container.best") != "" {
		t.Error("Overlay changed its inputs")
	}
	// A scan that could not identify the sandbox keeps the built-in identity.
	fresh.Identity = Identity{Sandbox: "unknown"}
	p, _, _ = Overlay(b, fresh)
	if p.Identity.Sandbox != "gvisor" {
		t.Errorf("identity %+v", p.Identity)
	}
	// The result is a valid profile.
	data, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(data, probes.SchemaOf(suite.All())); err != nil {
		t.Error(err)
	}
}

// TestMatchClosest: a scan that shows a built-in sandbox plans over it
// (the scan's facts on top); an odd one plans from the scan alone.
func TestMatchClosest(t *testing.T) {
	bs, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Builtin("gvisor-9p")
	if err != nil {
		t.Fatal(err)
	}
	fresh := &Profile{Facts: probes.Facts{}}
	for _, mk := range MatchKeys {
		if v, ok := b.Facts[mk.Key]; ok {
			fresh.Facts[mk.Key] = v
		}
	}
	c := MatchClosest(fresh, bs)
	if !c.Matched || c.Ranked[0].Name != "gvisor-9p" || c.Profile == fresh || len(c.Filled) == 0 {
		t.Fatalf("gvisor-9p's identifying facts: matched %v %s, filled %v", c.Matched, c.Ranked[0].Name, c.Filled)
	}
	odd := &Profile{Facts: probes.Facts{"identity.sandbox": "nspawn", "identity.ide": "replit", "kernel.emulated": probes.Yes,
		"priv.userns": probes.Yes, "fs.root.type": "virtiofs", "cgroups.layout": "v2", "dev.kmsg": "EACCES"}}
	if c := MatchClosest(odd, bs); c.Matched || c.Profile != odd || len(c.Ranked) != len(bs) {
		t.Errorf("an odd sandbox: matched %v, profile is the scan: %v", c.Matched, c.Profile == odd)
	}
	if c := MatchClosest(odd, nil); c.Matched || c.Profile != odd || len(c.Ranked) != 0 {
		t.Errorf("no built-ins: %+v", c)
	}
}
