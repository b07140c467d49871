package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/upstream"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// A plan that enforces NetworkPolicy keeps doing so only where the
// enforcer can run as planned, says why not otherwise, and says which
// queue path its --probe found.
func TestNetpolPreflight(t *testing.T) {
	// Scripts stand in for the enforcer's --probe answer.
	dir := t.TempDir()
	probe := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nft, ipt := probe("nft", "echo nft"), probe("ipt", "echo iptables")
	none := probe("none", "echo 'nftables queue rule refused: no such file or directory; iptables NFQUEUE rule refused: x' >&2; exit 1")
	old := probe("old", "exit 0") // an enforcer from before the iptables path
	for _, c := range []struct {
		bin     string
		nodes   int
		enforce bool
		queue   string
		why     string
		note    string
	}{
		{nft, 1, true, upstream.NetworkPolicyQueueNFT, "", "through its nf_tables table"},
		{ipt, 1, true, upstream.NetworkPolicyQueueIptables, "", "through an iptables NFQUEUE rule (mangle chain KPROBE-NETPOL"},
		{none, 1, false, "", "neither through nf_tables", "iptables NFQUEUE rule refused: x"},
		{old, 1, false, "", "not nft or iptables", ""},
		{"", 1, false, "", "was not found", ""},
		{ipt, 3, false, "", "--nodes 3", ""},
	} {
		plan, err := adapters.Build(&profiles.Profile{Facts: probes.Facts{"net.iptables_nft": probes.Yes}},
			adapters.Options{Engine: adapters.EngineKubernetes, Rung: profiles.T0})
		if err != nil {
			t.Fatal(err)
		}
		queue := netpolPreflight(plan, c.bin, c.nodes)
		if plan.EnforcesNetworkPolicy() != c.enforce || queue != c.queue || !strings.Contains(plan.WhyNoNetworkPolicy(), c.why) {
			t.Errorf("bin %q nodes %d: enforces %v, queue %q, why %q", c.bin, c.nodes, plan.EnforcesNetworkPolicy(), queue, plan.WhyNoNetworkPolicy())
		}
		notes := strings.Join(plan.Notes, "\n")
		if strings.Contains(notes, "kube-network-policies enforces") == !c.enforce || !strings.Contains(notes, c.note) {
			t.Errorf("bin %q nodes %d: notes %q", c.bin, c.nodes, notes)
		}
	}
}
