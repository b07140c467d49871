package app

import (
	"io"

	"github.com/spf13/cobra"
	"regexp"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters/signatures"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
)

// TestFixTextsFitTheEngine: every fix text the user is shown (finding
// codes, the findings of every captured sandbox with their specific
// fixes, the ladder's requirements, the log signatures) names only what
// exists for the engine that runs. The kubernetes engine has no k3s
// command and no k3s flag, and kprobe launch passes the components'
// settings itself, so a fix may name a flag only with its command: kprobe
// (checked against the real cobra flag set), or a command of the host or
// of the sandbox's runtime (docker run --privileged). A bare --kubelet-arg
// or a "k3s server --rootless" is a promise the kubernetes engine cannot
// keep, and with k3s installed kprobe launch renders k3s' flags itself.
func TestFixTextsFitTheEngine(t *testing.T) {
	root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	texts := map[string]string{} // text -> where
	add := func(where, text string) {
		if text != "" && texts[text] == "" {
			texts[text] = where
		}
	}
	for _, p := range suite.All() {
		for _, c := range p.Codes() {
			add("finding "+c.Code, c.Fix)
		}
	}
	for _, req := range profiles.Ladder {
		add("requirement "+req.Name, req.Fix)
	}
	for _, s := range signatures.Table() {
		add("signature "+s.Code, s.Fix)
	}
	probetest.EachFixture(t, "../../../probes/testdata/sandboxes", func(t *testing.T, name string, s *probes.Scan) {
		for _, r := range s.Results {
			for _, f := range r.Findings {
				add(name+": finding "+f.Code, f.Fix)
			}
		}
		for _, c := range profiles.Judge(s.Facts).Checks {
			for _, u := range append(c.Blockers, c.Unverified...) {
				add(name+": requirement "+u.Requirement, u.Fix)
			}
		}
	})
	if len(texts) < 100 {
		t.Fatalf("only %d fix texts found: the walk is broken", len(texts))
	}
	for text, where := range texts {
		for _, problem := range fixProblems(root, text) {
			t.Errorf("%s: %q: %s", where, text, problem)
		}
	}
}

// commandWords are the commands a fix may give flags to. k3s and the
// components kprobe runs are among them so that their flags are caught.
var commandWords = regexp.MustCompile(`(?:^|[\s(/'"])(kprobe|k3s|kubelet|kube-proxy|kube-apiserver|containerd|docker|podman|runsc|unshare|mount|umount|mkfs\.xfs|update-alternatives|apt-get|ss|sysctl|modprobe|ln|nsenter|lxc|wsl|bwrap|systemd-run|setenforce)\b`)

// engineOwned are the commands the user does not run: kprobe runs them
// with the flags the plan renders.
var engineOwned = map[string]bool{"k3s": true, "kubelet": true, "kube-proxy": true, "kube-apiserver": true, "containerd": true}

var flagWord = regexp.MustCompile(`(?:^|[\s(=,'"])(--[a-z][a-z0-9-]*)`)

// fixProblems returns what is wrong with one fix text for the kubernetes
// engine: a k3s command, a flag of a component kprobe runs, a flag with no
// command, a kprobe command line that does not exist.
func fixProblems(root *cobra.Command, text string) []string {
	var out []string
	if m := regexp.MustCompile(`\bk3s (server|agent)\b`).FindString(text); m != "" {
		out = append(out, "names the k3s command "+m+", which the kubernetes engine does not have")
	}
	for _, m := range quotedCommand.FindAllStringSubmatch(text, -1) {
		if problem := checkCommand(root, strings.Fields(m[1]), false); problem != "" {
			out = append(out, problem)
		}
	}
	for _, loc := range flagWord.FindAllStringSubmatchIndex(text, -1) {
		flag := text[loc[2]:loc[3]]
		cmds := commandWords.FindAllStringSubmatch(text[:loc[2]], -1)
		switch {
		case len(cmds) == 0:
			out = append(out, flag+" names no command: a kprobe flag is written as 'kprobe launch "+flag+"', what launch sets itself is said so")
		case engineOwned[cmds[len(cmds)-1][1]]:
			out = append(out, flag+" is a flag of "+cmds[len(cmds)-1][1]+", which kprobe runs: the user cannot pass it to the kubernetes engine")
		}
	}
	return out
}
