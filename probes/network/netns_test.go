package network

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

func okSteps(names ...string) []Step {
	var s []Step
	for _, n := range names {
		s = append(s, Step{Name: n, OK: true})
	}
	return s
}

var (
	allLinks    = okSteps(stepVeth, stepBridge, stepBridgePort, stepVxlan, stepVxlanUp)
	allIptables = okSteps(stepList, stepChain, stepRule, stepComment, stepConntrack, stepAddrtype, stepStatistic, stepMultiport, stepMark, stepNatList, stepNatChain, stepMasquerade, stepDNAT)
	// oldIptables is what a scan from before the statistic, multiport, MARK and DNAT trials recorded.
	oldIptables  = okSteps(stepList, stepChain, stepRule, stepComment, stepConntrack, stepAddrtype, stepNatList, stepNatChain, stepMasquerade)
	gvisorNft    = []Step{{Name: stepList, Errno: "EPROTONOSUPPORT", Msg: "iptables/1.8.9 Failed to initialize nft: Protocol not supported"}}
	gvisorLegacy = []Step{{Name: stepList, Errno: "ENOENT", Msg: "iptables v1.8.9 (legacy): can't initialize iptables table `filter': Table does not exist (do you need to insmod?)"}}
)

func replace(steps []Step, s Step) []Step {
	out := append([]Step(nil), steps...)
	for i := range out {
		if out[i].Name == s.Name {
			out[i] = s
		}
	}
	return out
}

func judged(in netnsInput) *probes.Observation {
	o := probes.NewObservation()
	judge(o, in)
	return o
}

func TestJudge(t *testing.T) {
	both := func(nft, legacy []Step) []BackendResult {
		return []BackendResult{{Backend: "nft", Bin: "/usr/sbin/iptables-nft", Steps: nft},
			{Backend: "legacy", Bin: "/usr/sbin/iptables-legacy", Steps: legacy}}
	}
	tests := []struct {
		name  string
		in    netnsInput
		facts probes.Facts // checked keys only
		codes []string
		sum   string // the Observation.Summary
	}{
		{
			name: "host: everything works",
			in:   netnsInput{Mode: "netns", Default: "nft", NetAdmin: probes.Yes, Result: &OpResult{Links: allLinks, Backends: both(allIptables, allIptables)}},
			facts: probes.Facts{"net.iptables_backend": "nft", "net.iptables_nft": probes.Yes, "net.iptables_legacy": probes.Yes,
				"net.veth": probes.Yes, "net.bridge": probes.Yes, "net.vxlan": probes.Yes, "net.iptables_conntrack": probes.Yes, "net.netns_mode": "netns"},
			sum: "veth bridge vxlan ok; iptables nft (nat comment conntrack addrtype statistic multiport mark dnat)",
		},
		{
			name: "gVisor: no nf_tables netlink, no legacy filter table",
			in:   netnsInput{Mode: "netns", Default: "nft", NetAdmin: probes.Yes, Result: &OpResult{Links: allLinks, Backends: both(gvisorNft, gvisorLegacy)}},
			facts: probes.Facts{"net.iptables_backend": "none", "net.iptables_nft": probes.No, "net.iptables_legacy": probes.No,
				"net.iptables_nat": probes.No, "net.iptables_addrtype": probes.No},
			codes: []string{CodeNoIptables.Code},
			sum:   "veth bridge vxlan ok; iptables unusable",
		},
		{
			name:  "legacy only",
			in:    netnsInput{Mode: "netns", Default: "legacy", NetAdmin: probes.Yes, Result: &OpResult{Links: allLinks, Backends: both(gvisorNft, allIptables)}},
			facts: probes.Facts{"net.iptables_backend": "legacy", "net.iptables_nft": probes.No, "net.iptables_legacy": probes.Yes, "net.iptables_comment": probes.Yes, "net.iptables_default": "legacy"},
			sum:   "veth bridge vxlan ok; iptables legacy (nat comment conntrack addrtype statistic multiport mark dnat)",
		},
		{
			name: "no conntrack match (gvisor#10546)",
			in: netnsInput{Mode: "netns", NetAdmin: probes.Yes, Result: &OpResult{Links: allLinks, Backends: []BackendResult{{Backend: "nft", Bin: "iptables",
				Steps: replace(allIptables, Step{Name: stepConntrack, Errno: "EINVAL", Msg: "iptables: Invalid argument. Run `dmesg' for more information."})}}}},
			facts: probes.Facts{"net.iptables_backend": "nft", "net.iptables_conntrack": probes.No, "net.iptables_comment": probes.Yes,
				"net.iptables_nat": probes.Yes, "net.iptables_legacy": probes.Unknown},
			codes: []string{CodeIptablesMatches.Code},
			sum:   "veth bridge vxlan ok; iptables nft (nat comment addrtype statistic multiport mark dnat; no conntrack)",
		},
		{
			name: "no statistic match (a kernel built without xt_statistic)",
			in: netnsInput{Mode: "netns", NetAdmin: probes.Yes, Result: &OpResult{Links: allLinks, Backends: []BackendResult{{Backend: "nft", Bin: "iptables",
				Steps: replace(allIptables, Step{Name: stepStatistic, Errno: "ENOENT", Msg: "iptables v1.8.9 (nf_tables): Couldn't load match `statistic':No such file or directory"})}}}},
			facts: probes.Facts{"net.iptables_backend": "nft", "net.iptables_statistic": probes.No, "net.iptables_dnat": probes.Yes,
				"net.iptables_mark": probes.Yes, "net.iptables_multiport": probes.Yes},
			codes: []string{CodeIptablesMatches.Code},
			sum:   "veth bridge vxlan ok; iptables nft (nat comment conntrack addrtype multiport mark dnat; no statistic)",
		},
		{
			name: "no DNAT target",
			in: netnsInput{Mode: "netns", NetAdmin: probes.Yes, Result: &OpResult{Links: allLinks, Backends: []BackendResult{{Backend: "nft", Bin: "iptables",
				Steps: replace(allIptables, Step{Name: stepDNAT, Errno: "ENOENT", Msg: "iptables v1.8.9 (nf_tables): Couldn't load target `DNAT':No such file or directory"})}}}},
			facts: probes.Facts{"net.iptables_dnat": probes.No, "net.iptables_nat": probes.Yes},
			codes: []string{CodeIptablesMatches.Code},
			sum:   "veth bridge vxlan ok; iptables nft (nat comment conntrack addrtype statistic multiport mark; no dnat)",
		},
		{
			name:  "a capture from before the statistic, multiport, MARK and DNAT trials: unknown, not missing",
			in:    netnsInput{Mode: "netns", NetAdmin: probes.Yes, Result: &OpResult{Links: allLinks, Backends: []BackendResult{{Backend: "nft", Bin: "iptables", Steps: oldIptables}}}},
			facts: probes.Facts{"net.iptables_statistic": probes.Unknown, "net.iptables_dnat": probes.Unknown, "net.iptables_conntrack": probes.Yes},
			sum:   "veth bridge vxlan ok; iptables nft (nat comment conntrack addrtype)",
		},
		{
			name:  "vxlan unsupported, veth refused",
			in:    netnsInput{Mode: "netns", NetAdmin: probes.Yes, Result: &OpResult{Links: []Step{{Name: stepVeth, Errno: "EOPNOTSUPP"}, {Name: stepBridge, OK: true}, {Name: stepVxlan, Errno: "EOPNOTSUPP", Msg: "operation not supported"}}, Backends: both(allIptables, allIptables)}},
			facts: probes.Facts{"net.veth": probes.No, "net.bridge": probes.Yes, "net.vxlan": probes.No},
			codes: []string{CodeNoVxlan.Code, CodeNoVethBridge.Code},
			sum:   "veth vxlan refused, bridge ok; iptables nft (nat comment conntrack addrtype statistic multiport mark dnat)",
		},
		{
			name:  "podman, bwrap: only in a user namespace, no CAP_NET_ADMIN",
			in:    netnsInput{Mode: "userns", NetAdmin: probes.No, CloneErr: "CLONE_NEWNET: EPERM", CloneErrno: "EPERM", Result: &OpResult{Links: allLinks, Backends: both(allIptables, allIptables)}},
			facts: probes.Facts{"net.netns_mode": "userns", "net.iptables_backend": "nft", "net.veth": probes.Yes},
			codes: []string{CodeUsernsOnly.Code},
			sum:   "in a user namespace: veth bridge vxlan ok; iptables nft (nat comment conntrack addrtype statistic multiport mark dnat)",
		},
		{
			name: "docker default: no namespace, no CAP_NET_ADMIN",
			in:   netnsInput{Mode: "none", NetAdmin: probes.No, CloneErr: "CLONE_NEWNET: EPERM; CLONE_NEWUSER|CLONE_NEWNET: EPERM", CloneErrno: "EPERM", Bins: map[string]string{"nft": "/usr/sbin/iptables"}},
			facts: probes.Facts{"net.netns_mode": "none", "net.iptables_backend": "none", "net.iptables_nft": probes.No,
				"net.veth": probes.No, "net.bridge": probes.No, "net.vxlan": probes.No},
			codes: []string{CodeNoIptables.Code, CodeNoVethBridge.Code},
			sum:   "no network namespace: veth bridge vxlan refused; iptables unusable",
		},
		{
			name: "no namespace but CAP_NET_ADMIN: not tested",
			in:   netnsInput{Mode: "none", NetAdmin: probes.Yes, CloneErr: "EPERM", CloneErrno: "EPERM"},
			facts: probes.Facts{"net.iptables_backend": "unknown", "net.iptables_nft": probes.Unknown,
				"net.veth": probes.Unknown, "net.vxlan": probes.Unknown},
			codes: []string{CodeNetNotTested.Code},
			sum:   "no network namespace: veth bridge vxlan not tried; iptables not tried",
		},
		{
			name:  "no iptables binary",
			in:    netnsInput{Mode: "netns", NetAdmin: probes.Yes, Result: &OpResult{Links: allLinks}},
			facts: probes.Facts{"net.iptables_backend": "unknown", "net.iptables_nft": probes.Unknown, "net.iptables_nat": probes.Unknown, "net.iptables_default": ""},
			codes: []string{CodeNoIptablesBinary.Code},
			sum:   "veth bridge vxlan ok; no iptables binary",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := judged(tt.in)
			for k, want := range tt.facts {
				if got := o.Facts[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, tt.codes) {
				t.Errorf("codes %v, want %v; findings %+v", got, tt.codes, o.Findings)
			}
			if o.Summary != tt.sum {
				t.Errorf("summary %q, want %q", o.Summary, tt.sum)
			}
			// Every declared fact is set, with its declared type.
			for _, spec := range (NetnsProbe{}).Facts() {
				v, ok := o.Facts[spec.Key]
				if !ok {
					t.Errorf("fact %s not set", spec.Key)
					continue
				}
				if _, err := probes.Coerce(spec, v); err != nil {
					t.Errorf("fact %s: %v", spec.Key, err)
				}
			}
			for _, f := range o.Findings {
				if f.Fix == "" || f.Summary == "" {
					t.Errorf("finding without fix or summary: %+v", f)
				}
			}
		})
	}
}

func TestJudgeMatchFixes(t *testing.T) {
	noNat := replace(allIptables, Step{Name: stepMasquerade, Errno: "ENOENT", Msg: "x"})
	o := judged(netnsInput{Mode: "netns", NetAdmin: probes.Yes, Result: &OpResult{Links: allLinks,
		Backends: []BackendResult{{Backend: "nft", Bin: "iptables", Steps: noNat}}}})
	if len(o.Findings) != 1 || !strings.Contains(o.Findings[0].Fix, "without kube-proxy and network policy (T2)") ||
		!strings.Contains(o.Findings[0].Summary, "nat") || o.Findings[0].Evidence.Errno != "ENOENT" {
		t.Errorf("no nat: %+v", o.Findings)
	}
}

func TestIptablesBinaries(t *testing.T) {
	ver := func(s string) probes.ExecResult { return probes.ExecResult{Stdout: s + "\n"} }
	exe := &fstest.MapFile{Data: []byte("ELF"), Mode: 0o755}
	tests := []struct {
		name string
		sys  fakeSys
		root fstest.MapFS
		bins map[string]string
		def  string
	}{
		{
			name: "Debian 12 as root",
			sys: fakeSys{paths: map[string]string{"iptables": "/usr/sbin/iptables", "iptables-nft": "/usr/sbin/iptables-nft", "iptables-legacy": "/usr/sbin/iptables-legacy"},
				exec: map[string]probes.ExecResult{"/usr/sbin/iptables --version": ver("iptables v1.8.9 (nf_tables)")}},
			bins: map[string]string{"nft": "/usr/sbin/iptables-nft", "legacy": "/usr/sbin/iptables-legacy"},
			def:  "nft",
		},
		{
			name: "non-root PATH without sbin",
			sys:  fakeSys{exec: map[string]probes.ExecResult{"/usr/sbin/iptables --version": ver("iptables v1.8.9 (legacy)")}},
			root: fstest.MapFS{"usr/sbin/iptables": exe, "usr/sbin/iptables-legacy": exe},
			bins: map[string]string{"legacy": "/usr/sbin/iptables-legacy"},
			def:  "legacy",
		},
		{
			name: "old iptables without backend binaries",
			sys: fakeSys{paths: map[string]string{"iptables": "/sbin/iptables"},
				exec: map[string]probes.ExecResult{"/sbin/iptables --version": ver("iptables v1.6.1")}},
			bins: map[string]string{"legacy": "/sbin/iptables"},
			def:  "legacy",
		},
		{
			name: "none, but k3s' bundled ones",
			root: fstest.MapFS{"var/lib/rancher/k3s/data/current/bin/aux/iptables-nft": exe,
				"var/lib/rancher/k3s/data/current/bin/aux/iptables-legacy": {Data: []byte("x"), Mode: 0o644}},
			bins: map[string]string{"nft": "/var/lib/rancher/k3s/data/current/bin/aux/iptables-nft"},
		},
		{name: "nothing", bins: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root == nil {
				tt.root = fstest.MapFS{}
			}
			env := &probes.Env{Root: tt.root, Sys: tt.sys, DataDir: probes.DefaultDataDir}
			plain, def := lookPath(env, "iptables"), ""
			if plain != "" {
				def, _ = plainVersion(context.Background(), env, plain)
			}
			bins := iptablesBinaries(env, plain, def)
			if !reflect.DeepEqual(bins, tt.bins) || def != tt.def {
				t.Errorf("got %v %q, want %v %q", bins, def, tt.bins, tt.def)
			}
		})
	}
}

func TestNetAdmin(t *testing.T) {
	for _, tt := range []struct {
		status string
		want   probes.Tri
	}{
		{hostStatus, probes.Yes},
		{"CapEff:\t00000000a80425fb\n", probes.No}, // Docker's 14 caps
		{"Name:\tx\n", probes.Unknown},
	} {
		env := &probes.Env{Root: fstest.MapFS{"proc/self/status": {Data: []byte(tt.status)}}}
		if got := netAdmin(env, probes.NewObservation()); got != tt.want {
			t.Errorf("%q: %v, want %v", tt.status, got, tt.want)
		}
	}
	if got := netAdmin(&probes.Env{Root: fstest.MapFS{}}, probes.NewObservation()); got != probes.Unknown {
		t.Errorf("missing status: %v", got)
	}
}
