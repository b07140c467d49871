package app

import (
	"regexp"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/signatures"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
)

// TestFixesLeaveLaunchsWorkToLaunch (issue #16: scan warnings asked users
// to do by hand what launch does itself): a fix text that names a setting
// some rule of adapters has kprobe launch set (a kubelet flag, a
// containerd key; not k3s's Cluster flags) or `mount --make-rshared` (the
// rshared shim) must say that kprobe does it, not ask the user to. The
// texts are those TestFixTextsFitTheEngine walks: finding codes, the
// findings of every captured sandbox, the ladder's requirements.
func TestFixesLeaveLaunchsWorkToLaunch(t *testing.T) {
	names := map[string]bool{}
	for _, r := range adapters.Rules {
		for _, s := range r.Settings {
			// Short names (cgroup-root's "root"...) would match prose.
			if s.Component != adapters.Cluster && len(s.Name) > 6 {
				names[s.Name] = true
			}
		}
	}
	texts := map[string]string{}
	for _, p := range suite.All() {
		for _, c := range p.Codes() {
			texts[c.Fix] = "finding " + c.Code
		}
	}
	for _, req := range profiles.Ladder {
		texts[req.Fix] = "requirement " + req.Name
	}
	for _, sig := range signatures.Table() {
		texts[sig.Fix] = "signature " + sig.Code
	}
	probetest.EachFixture(t, "../../../probes/testdata/sandboxes", func(t *testing.T, name string, s *probes.Scan) {
		for _, r := range s.Results {
			for _, f := range r.Findings {
				texts[f.Fix] = name + ": finding " + f.Code
			}
		}
	})
	selfDone := regexp.MustCompile(`kprobe launch|kprobe's|itself|kprobe applies|kprobe sets`)
	for text, where := range texts {
		for n := range names {
			if regexp.MustCompile(`\b`+regexp.QuoteMeta(n)+`\b`).MatchString(text) && !selfDone.MatchString(text) {
				t.Errorf("%s: %q names %s, which kprobe launch sets itself, and does not say so", where, text, n)
			}
		}
		if strings.Contains(text, "--make-rshared") && !selfDone.MatchString(text) {
			t.Errorf("%s: %q asks for mount --make-rshared, which kprobe's rshared shim does, and does not say so", where, text)
		}
	}
}
