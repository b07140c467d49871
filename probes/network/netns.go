package network

import (
	"bytes"
	"context"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/moby/sys/capability"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/procfs"
)

// NetnsProbe is the active network probe. In the re-exec'd child it spawns
// an op in a new network namespace (CLONE_NEWNET, or CLONE_NEWUSER|
// CLONE_NEWNET when the plain one is refused) that creates veth, bridge and
// vxlan links and iptables chains with the matches kube-proxy and flannel
// use, for the nft and the legacy backend. Everything it creates lives in
// that namespace, which dies with the op; it deletes it all anyway.
type NetnsProbe struct{}

var _ probes.Probe = NetnsProbe{}

// OpNetns is the name of the op that runs inside the new network namespace.
const OpNetns = "network.netns"

// Codes of the active network probe.
var (
	CodeNoIptables = probes.Code{Code: "KP-NET-010", Severity: probes.Block,
		Title:   "iptables does not work",
		Meaning: "kube-proxy (iptables mode), flannel's masquerading and the network policy controller program iptables; neither the nft nor the legacy backend works here (gVisor: no nf_tables netlink; containers without CAP_NET_ADMIN: permission denied).",
		Fix:     "install iptables (apt-get install -y iptables); otherwise kprobe launch runs the worker without kube-proxy and network policy (T2)"}
	CodeNoIptablesBinary = probes.Code{Code: "KP-NET-011", Severity: probes.Warn,
		Title:   "no iptables binary found",
		Meaning: "No iptables, iptables-nft or iptables-legacy is installed, so kernel netfilter support could not be tested; kube-proxy and flannel need one (k3s ships its own).",
		Fix:     "apt-get install -y iptables"}
	CodeIptablesMatches = probes.Code{Code: "KP-NET-012", Severity: probes.Block,
		Title:   "iptables lacks the nat table or matches kube-proxy uses",
		Meaning: "kube-proxy writes rules with -m comment, -m conntrack, -m addrtype, -m statistic, -m multiport, -j MARK and -j DNAT in the filter and nat tables, and flannel masquerades in nat; without them rule syncs fail and Services do not work.",
		Fix:     "nothing to do: kprobe launch runs the worker without kube-proxy and network policy (T2); for Services load the missing modules on the host (modprobe xt_comment xt_conntrack xt_addrtype xt_statistic xt_multiport xt_mark iptable_nat)"}
	CodeNoVxlan = probes.Code{Code: "KP-NET-013", Severity: probes.Warn,
		Title:   "vxlan links cannot be created",
		Meaning: "flannel's default vxlan backend fails with \"operation not supported\"; a single node does not need an overlay.",
		Fix:     "nothing to do for one node: the kubernetes engine connects pods with a bridge and needs no vxlan, and k3s is started with flannel's host-gw backend (T1)"}
	CodeNoVethBridge = probes.Code{Code: "KP-NET-014", Severity: probes.Block,
		Title:   "veth or bridge links cannot be created",
		Meaning: "The bridge CNI plugin (used by flannel and k3s) connects every pod with a veth pair to a bridge; without them no pod outside hostNetwork gets a network.",
		Fix:     "run the sandbox with CAP_NET_ADMIN (docker run --cap-add NET_ADMIN, or --privileged); otherwise kprobe launch runs pods as processes (TP)"}
	CodeUsernsOnly = probes.Code{Code: "KP-NET-015", Severity: probes.Warn,
		Title:   "network setup works only inside a user namespace",
		Meaning: "This process lacks CAP_NET_ADMIN and a network namespace could be created only together with a user namespace: pod networking works only when k3s runs rootless, in its own user and network namespace.",
		Fix:     "run kprobe as root of a user namespace (unshare --user --map-root-user --net --mount --pid --fork); otherwise kprobe launch runs pods as processes (TP)"}
	CodeNetNotTested = probes.Code{Code: "KP-NET-016", Severity: probes.Info,
		Title:   "network features not tested: no network namespace",
		Meaning: "Neither clone(CLONE_NEWNET) nor clone(CLONE_NEWUSER|CLONE_NEWNET) is allowed, and kprobe never changes the network namespace it runs in, so links and iptables were not tried; pods also need new network namespaces.",
		Fix:     "run kprobe as root, or start the sandbox with CAP_SYS_ADMIN (docker run --cap-add SYS_ADMIN --security-opt seccomp=unconfined)"}
)

func (NetnsProbe) ID() string            { return "network.netns" }
func (NetnsProbe) Domain() probes.Domain { return probes.DomainNetwork }
func (NetnsProbe) Mode() probes.Mode     { return probes.Active }

// SharesChild implements probes.ChildSharer: the links, routes and chains
// are made in the op's own network namespace (the op refuses its
// parent's); the child only reads and starts processes.
func (NetnsProbe) SharesChild() {}

// LeadsChild implements probes.ChildLeader: its op then runs the iptables
// trials one after another (eight processes in gVisor), the longest
// chain of the shared child, so it starts before the other members.
func (NetnsProbe) LeadsChild() {}

func (NetnsProbe) Codes() []probes.Code {
	return []probes.Code{CodeNoIptables, CodeNoIptablesBinary, CodeIptablesMatches,
		CodeNoVxlan, CodeNoVethBridge, CodeUsernsOnly, CodeNetNotTested}
}

func (NetnsProbe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "net.netns_mode", Type: probes.TypeString, Doc: "how the test network namespace was made: netns (CLONE_NEWNET), userns (only with CLONE_NEWUSER) or none"},
		{Key: "net.veth", Type: probes.TypeTri, Doc: "a veth pair can be created in a new network namespace"},
		{Key: "net.bridge", Type: probes.TypeTri, Doc: "a bridge can be created and a veth enslaved to it in a new network namespace"},
		{Key: "net.link_errno", Type: probes.TypeString, Doc: "errno of the first veth or bridge step that failed (EOPNOTSUPP: no such module or link type; EPERM: no CAP_NET_ADMIN), \"\" when none failed"},
		{Key: "net.vxlan", Type: probes.TypeTri, Doc: "a vxlan link (VNI 1, port 8472, as flannel) can be created and set up in a new network namespace"},
		{Key: "net.iptables_nft", Type: probes.TypeTri, Doc: "iptables-nft lists the filter table and creates a chain and a rule in a new network namespace"},
		{Key: "net.iptables_legacy", Type: probes.TypeTri, Doc: "iptables-legacy lists the filter table and creates a chain and a rule in a new network namespace"},
		{Key: "net.iptables_nat", Type: probes.TypeTri, Doc: "the chosen backend has a nat table that takes a chain with a MASQUERADE rule"},
		{Key: "net.iptables_comment", Type: probes.TypeTri, Doc: "the chosen backend accepts -m comment"},
		{Key: "net.iptables_conntrack", Type: probes.TypeTri, Doc: "the chosen backend accepts -m conntrack --ctstate ESTABLISHED"},
		{Key: "net.iptables_addrtype", Type: probes.TypeTri, Doc: "the chosen backend accepts -m addrtype --dst-type LOCAL"},
		{Key: "net.iptables_statistic", Type: probes.TypeTri, Doc: "the chosen backend accepts -m statistic --mode random (kube-proxy spreads a Service over its endpoints with it); unknown when not tried"},
		{Key: "net.iptables_multiport", Type: probes.TypeTri, Doc: "the chosen backend accepts -m multiport --dports; unknown when not tried"},
		{Key: "net.iptables_mark", Type: probes.TypeTri, Doc: "the chosen backend accepts -j MARK --set-xmark (kube-proxy marks packets to masquerade); unknown when not tried"},
		{Key: "net.iptables_dnat", Type: probes.TypeTri, Doc: "the chosen backend's nat table accepts -j DNAT --to-destination (every Service rule); unknown when not tried"},
		{Key: "net.iptables_backend", Type: probes.TypeString, Doc: "the backend that works, nft preferred: nft, legacy, none, or unknown when none could be tested"},
		{Key: "net.iptables_default", Type: probes.TypeString, Doc: "backend of the plain iptables command per iptables --version (nft or legacy), \"\" when absent"},
	}
}

// Step is one attempt inside the namespace, as the op reports it.
type Step struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Errno string `json:"errno,omitempty"`
	Msg   string `json:"msg,omitempty"`
}

// BackendResult is what one iptables backend did inside the namespace.
type BackendResult struct {
	Backend string `json:"backend"` // nft or legacy
	Bin     string `json:"bin"`
	Steps   []Step `json:"steps"`
}

// OpResult is the op's one-line JSON answer.
type OpResult struct {
	NetNS    string          `json:"netns,omitempty"`
	Links    []Step          `json:"links"`
	Backends []BackendResult `json:"backends,omitempty"`
	Cleanup  []Step          `json:"cleanup,omitempty"` // failed deletions
}

func find(steps []Step, name string) (Step, bool) {
	for _, s := range steps {
		if s.Name == name {
			return s, true
		}
	}
	return Step{}, false
}

func ok(steps []Step, names ...string) bool {
	for _, n := range names {
		s, found := find(steps, n)
		if !found || !s.OK {
			return false
		}
	}
	return true
}

// firstFailure names the first failed step among names.
func firstFailure(steps []Step, names ...string) (Step, bool) {
	for _, n := range names {
		if s, found := find(steps, n); found && !s.OK {
			return s, true
		}
	}
	return Step{}, false
}

func (s Step) text() string {
	t := s.Name
	if s.Errno != "" {
		t += ": " + s.Errno
	}
	if s.Msg != "" {
		t += ": " + s.Msg
	}
	return t
}

// Iptables step names, in the order the op runs them.
const (
	stepList       = "filter -S"
	stepNatList    = "nat -S"
	stepChain      = "filter -N"
	stepRule       = "filter -A -j RETURN"
	stepComment    = "-m comment"
	stepConntrack  = "-m conntrack"
	stepAddrtype   = "-m addrtype"
	stepNatChain   = "nat -N"
	stepMasquerade = "nat -j MASQUERADE"
	stepStatistic  = "-m statistic"
	stepMultiport  = "-m multiport"
	stepMark       = "-j MARK"
	stepDNAT       = "nat -j DNAT"
)

// Link step names.
const (
	stepVeth       = "veth"
	stepBridge     = "bridge"
	stepBridgePort = "bridge master"
	stepVxlan      = "vxlan"
	stepVxlanUp    = "vxlan up"
)

// netnsInput is everything judge needs; Run gathers it.
type netnsInput struct {
	Mode       string            // netns, userns or none
	Result     *OpResult         // nil when no namespace could be made
	Bins       map[string]string // backend (nft, legacy) -> binary tested
	Default    string            // backend of the plain iptables command
	NetAdmin   probes.Tri        // CAP_NET_ADMIN in CapEff
	CloneErr   string            // why no namespace could be made (text)
	CloneErrno string            // its errno name
}

// judge turns what happened in the namespace into facts and findings.
func judge(o *probes.Observation, in netnsInput) {
	o.Set("net.netns_mode", in.Mode)
	o.Set("net.iptables_default", in.Default)
	if in.Result == nil {
		judgeNoNamespace(o, in)
		o.Summary = netnsSummary(o.Facts)
		return
	}
	r := in.Result

	// Links.
	veth := probes.TriOf(ok(r.Links, stepVeth))
	bridge := probes.TriOf(ok(r.Links, stepBridge) && (veth != probes.Yes || ok(r.Links, stepBridgePort)))
	vxlan := probes.TriOf(ok(r.Links, stepVxlan, stepVxlanUp))
	o.Set("net.veth", veth)
	o.Set("net.bridge", bridge)
	o.Set("net.vxlan", vxlan)
	o.Note("netlink RTM_NEWLINK", summarize(r.Links), nil)
	linkErrno := errnoOf(r.Links, stepVeth, stepBridge, stepBridgePort)
	o.Set("net.link_errno", linkErrno)
	if veth == probes.No || bridge == probes.No {
		var why []string
		if s, bad := firstFailure(r.Links, stepVeth, stepBridge, stepBridgePort); bad {
			why = append(why, s.text())
		}
		o.FindFix(CodeNoVethBridge, "cannot create veth/bridge links in a new network namespace: "+strings.Join(why, "; "),
			probes.Evidence{Source: "netlink RTM_NEWLINK", Excerpt: strings.Join(why, "; "), Errno: linkErrno}, VethFix(linkErrno))
	}
	if vxlan == probes.No {
		s, _ := firstFailure(r.Links, stepVxlan, stepVxlanUp)
		o.Find(CodeNoVxlan, "cannot create a vxlan link in a new network namespace: "+s.text(),
			probes.Evidence{Source: "netlink RTM_NEWLINK vxlan", Excerpt: s.Msg, Errno: s.Errno})
	}

	// iptables.
	judgeIptables(o, in)

	for _, s := range r.Cleanup {
		o.Note("cleanup "+s.Name, s.Msg, probes.ErrFromText(s.Errno))
	}
	if in.Mode == "userns" && in.NetAdmin == probes.No {
		o.Find(CodeUsernsOnly, "a network namespace could be created only inside a new user namespace, and this process has no CAP_NET_ADMIN",
			probes.Evidence{Source: "clone(CLONE_NEWNET)", Excerpt: in.CloneErr, Errno: in.CloneErrno})
	}
	o.Summary = netnsSummary(o.Facts)
}

// VethFix is the fix for veth or bridge links that cannot be made, by
// the errno the kernel gave: only a missing privilege is fixed by
// CAP_NET_ADMIN; EOPNOTSUPP means the kernel has no such link type (no
// module, or gVisor's netstack).
func VethFix(errno string) string {
	switch errno {
	case "EOPNOTSUPP", "ENOTSUP", "EPROTONOSUPPORT", "ENODEV":
		return "the kernel has no veth or bridge links (" + errno + "): on the host, modprobe veth bridge; a sandbox whose kernel has none (gVisor's netstack) cannot give pods a network: kprobe launch --process-pods runs them as processes"
	}
	return CodeNoVethBridge.Fix
}

// netnsSummary says what works in a new network namespace: "veth bridge
// vxlan ok; iptables nft (nat comment conntrack addrtype)".
func netnsSummary(f probes.Facts) string {
	word := map[probes.Tri]string{probes.Yes: "ok", probes.No: "refused", probes.Unknown: "not tried"}
	var links probes.Tally
	for _, l := range []string{"veth", "bridge", "vxlan"} {
		links.Add(l, word[f.Tri("net."+l)])
	}
	s := links.String()
	switch f.String("net.netns_mode") {
	case "userns":
		s = "in a user namespace: " + s
	case "none":
		s = "no network namespace: " + s
	}
	switch b := f.String("net.iptables_backend"); b {
	case "nft", "legacy":
		var have, lack []string
		for _, e := range []string{"nat", "comment", "conntrack", "addrtype"} {
			if f.Tri("net.iptables_"+e) == probes.Yes {
				have = append(have, e)
			} else {
				lack = append(lack, e)
			}
		}
		// Tried only since these steps exist: older captures leave them unknown.
		for _, e := range []string{"statistic", "multiport", "mark", "dnat"} {
			switch f.Tri("net.iptables_" + e) {
			case probes.Yes:
				have = append(have, e)
			case probes.No:
				lack = append(lack, e)
			}
		}
		s += "; iptables " + b + " (" + strings.Join(have, " ")
		if len(lack) > 0 {
			if len(have) > 0 {
				s += "; "
			}
			s += "no " + strings.Join(lack, " ")
		}
		s += ")"
	case "none":
		s += "; iptables unusable"
	default:
		if f.String("net.netns_mode") == "none" {
			s += "; iptables not tried"
		} else {
			s += "; no iptables binary"
		}
	}
	return s
}

// summarize renders steps on one line: "veth ok, vxlan FAIL EOPNOTSUPP: ...".
func summarize(steps []Step) string {
	parts := make([]string, 0, len(steps))
	for _, s := range steps {
		if s.OK {
			parts = append(parts, s.Name+" ok")
		} else {
			parts = append(parts, s.Name+" FAIL "+strings.TrimPrefix(s.text(), s.Name+": "))
		}
	}
	return strings.Join(parts, ", ")
}

func errnoOf(steps []Step, names ...string) string {
	if s, bad := firstFailure(steps, names...); bad {
		return s.Errno
	}
	return ""
}

func judgeIptables(o *probes.Observation, in netnsInput) {
	r := in.Result
	usable := map[string]probes.Tri{"nft": probes.Unknown, "legacy": probes.Unknown}
	results := map[string]BackendResult{}
	var failures []string
	for _, b := range r.Backends {
		results[b.Backend] = b
		u := ok(b.Steps, stepList, stepChain, stepRule)
		usable[b.Backend] = probes.TriOf(u)
		o.Note(b.Bin, summarize(b.Steps), nil)
		if !u {
			if s, bad := firstFailure(b.Steps, stepList, stepChain, stepRule); bad {
				failures = append(failures, b.Bin+" "+s.text())
			}
		}
	}
	o.Set("net.iptables_nft", usable["nft"])
	o.Set("net.iptables_legacy", usable["legacy"])

	backend := "unknown"
	switch {
	case usable["nft"] == probes.Yes:
		backend = "nft"
	case usable["legacy"] == probes.Yes:
		backend = "legacy"
	case len(r.Backends) > 0:
		backend = "none"
	}
	o.Set("net.iptables_backend", backend)

	extKeys := []struct{ key, label string }{
		{"net.iptables_nat", "nat"}, {"net.iptables_comment", "comment"},
		{"net.iptables_conntrack", "conntrack"}, {"net.iptables_addrtype", "addrtype"},
		{"net.iptables_statistic", "statistic"}, {"net.iptables_multiport", "multiport"},
		{"net.iptables_mark", "mark"}, {"net.iptables_dnat", "dnat"},
	}
	switch backend {
	case "unknown":
		for _, k := range extKeys {
			o.Set(k.key, probes.Unknown)
		}
		o.Find(CodeNoIptablesBinary, "no iptables binary on PATH or in the usual sbin directories",
			probes.Evidence{Source: "exec.LookPath(iptables, iptables-nft, iptables-legacy)", Errno: "ENOENT"})
		return
	case "none":
		for _, k := range extKeys {
			o.Set(k.key, probes.No)
		}
		o.Find(CodeNoIptables, "iptables does not work in a new network namespace: "+strings.Join(failures, "; "),
			probes.Evidence{Source: "iptables -t filter -S", Excerpt: strings.Join(failures, "; "), Errno: backendErrno(r.Backends)})
		return
	}
	steps := results[backend].Steps
	ext := map[string]probes.Tri{
		"nat":       probes.TriOf(ok(steps, stepNatList, stepNatChain, stepMasquerade)),
		"comment":   probes.TriOf(ok(steps, stepComment)),
		"conntrack": probes.TriOf(ok(steps, stepConntrack)),
		"addrtype":  probes.TriOf(ok(steps, stepAddrtype)),
		"statistic": tried(steps, stepStatistic),
		"multiport": tried(steps, stepMultiport),
		"mark":      tried(steps, stepMark),
		"dnat":      tried(steps, stepDNAT),
	}
	var missing, why []string
	for _, k := range extKeys {
		o.Set(k.key, ext[k.label])
		if ext[k.label] == probes.No {
			missing = append(missing, k.label)
		}
	}
	if len(missing) == 0 {
		return
	}
	all := []string{stepNatList, stepNatChain, stepMasquerade, stepComment, stepConntrack, stepAddrtype,
		stepStatistic, stepMultiport, stepMark, stepDNAT}
	if s, bad := firstFailure(steps, all...); bad {
		why = append(why, s.text())
	}
	fix := CodeIptablesMatches.Fix
	if ext["nat"] != probes.Yes {
		fix = "nothing to do: without the nat table kprobe launch runs the worker without kube-proxy and network policy (T2)"
	}
	o.FindFix(CodeIptablesMatches, "iptables ("+backend+") lacks "+strings.Join(missing, ", "),
		probes.Evidence{Source: results[backend].Bin, Excerpt: strings.Join(why, "; "), Errno: errnoOf(steps, all...)}, fix)
}

// tried is a step's outcome, unknown when it was not run (the nat table
// failed first, or a capture from before the step existed).
func tried(steps []Step, name string) probes.Tri {
	s, found := find(steps, name)
	if !found {
		return probes.Unknown
	}
	return probes.TriOf(s.OK)
}

func backendErrno(bs []BackendResult) string {
	for _, b := range bs {
		if e := errnoOf(b.Steps, stepList, stepChain, stepRule); e != "" {
			return e
		}
	}
	return ""
}

// judgeNoNamespace handles a sandbox where no network namespace can be
// made. kprobe never touches the namespace it runs in, so the answer is
// unknown, except when CAP_NET_ADMIN is missing: then the kernel refuses
// every link and netfilter change in this namespace (EPERM), which is
// where k3s would run.
func judgeNoNamespace(o *probes.Observation, in netnsInput) {
	keys := []string{"net.veth", "net.bridge", "net.vxlan", "net.iptables_nft", "net.iptables_legacy",
		"net.iptables_nat", "net.iptables_comment", "net.iptables_conntrack", "net.iptables_addrtype",
		"net.iptables_statistic", "net.iptables_multiport", "net.iptables_mark", "net.iptables_dnat"}
	ev := probes.Evidence{Source: "clone(CLONE_NEWUSER|CLONE_NEWNET)", Excerpt: in.CloneErr, Errno: in.CloneErrno}
	if in.NetAdmin != probes.No {
		for _, k := range keys {
			o.Set(k, probes.Unknown)
		}
		o.Set("net.iptables_backend", "unknown")
		o.Set("net.link_errno", "unknown")
		o.Find(CodeNetNotTested, "no new network namespace could be created ("+in.CloneErr+"); links and iptables were not tried", ev)
		return
	}
	for _, k := range keys {
		o.Set(k, probes.No)
	}
	o.Set("net.iptables_backend", "none")
	o.Set("net.link_errno", "EPERM")
	why := "CAP_NET_ADMIN is not in CapEff and no new network namespace can be created (" + in.CloneErr + ")"
	o.Note("/proc/self/status CapEff", why, nil)
	o.Find(CodeNoIptables, "iptables cannot work: "+why, ev)
	// No vxlan finding: without veth and bridge there is no pod network
	// for an overlay to carry, and host-gw needs CAP_NET_ADMIN too.
	o.Find(CodeNoVethBridge, "veth and bridge links cannot be created: "+why, ev)
}

func netAdmin(env *probes.Env, o *probes.Observation) probes.Tri {
	b, err := fs.ReadFile(env.Root, "proc/self/status")
	if err != nil {
		o.Note("/proc/self/status", "", err)
		return probes.Unknown
	}
	mask, found, err := procfs.ParseCapEff(bytes.NewReader(b))
	if err != nil || !found {
		o.Note("/proc/self/status", "no CapEff line", err)
		return probes.Unknown
	}
	return probes.TriOf(procfs.HasCap(mask, capability.CAP_NET_ADMIN))
}

// sbinDirs are searched when a binary is not on PATH: non-root users
// often lack /usr/sbin, where Debian installs iptables.
var sbinDirs = []string{"usr/sbin", "sbin", "usr/local/sbin", "usr/local/bin", "usr/bin", "bin"}

// lookPath finds name on PATH or in sbinDirs (through env.Root).
func lookPath(env *probes.Env, name string) string {
	if p, err := env.Sys.LookPath(name); err == nil {
		return p
	}
	for _, d := range sbinDirs {
		if isExecutable(env, path.Join(d, name)) {
			return "/" + path.Join(d, name)
		}
	}
	return ""
}

func isExecutable(env *probes.Env, rel string) bool {
	st, err := fs.Stat(env.Root, rel)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// plainVersion asks the plain iptables for its --version: the backend it
// names (nft or legacy, "" when it does not say), and the note of it.
func plainVersion(ctx context.Context, env *probes.Env, p string) (string, probes.Evidence) {
	vctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	res, err := env.Sys.Exec(vctx, p, "--version")
	cancel()
	out := strings.TrimSpace(res.Stdout + "\n" + res.Stderr)
	first := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	def := ""
	if err == nil {
		_, def = IptablesVersion(out)
	}
	return def, probes.Evidence{Source: p + " --version", Excerpt: first, Errno: probes.Errno(err)}
}

// iptablesBinaries picks the binary to test for each backend: iptables-nft
// and iptables-legacy, else the plain iptables (plain) for the backend its
// --version names (def), else k3s' bundled ones in the data dir.
func iptablesBinaries(env *probes.Env, plain, def string) map[string]string {
	bins := map[string]string{}
	if def != "" {
		bins[def] = plain
	}
	bundled := path.Join(strings.TrimPrefix(env.DataDir, "/"), "data/current/bin/aux")
	for _, b := range []string{"nft", "legacy"} {
		if p := lookPath(env, "iptables-"+b); p != "" {
			bins[b] = p
			continue
		}
		if bins[b] != "" {
			continue
		}
		if rel := path.Join(bundled, "iptables-"+b); env.DataDir != "" && isExecutable(env, rel) {
			bins[b] = "/" + rel
		}
	}
	return bins
}
