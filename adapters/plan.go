package adapters

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// Engine names.
const (
	EngineK3s        = "k3s"
	EngineKubernetes = "kubernetes"
)

// Component a setting applies to.
type Component string

const (
	Kubelet               Component = "kubelet"
	KubeProxy             Component = "kube-proxy"
	KubeAPIServer         Component = "kube-apiserver"
	KubeControllerManager Component = "kube-controller-manager"
	KubeScheduler         Component = "kube-scheduler"
	// Containerd settings are keys of containerd's CRI plugin config.
	Containerd Component = "containerd"
	// Cluster settings are engine-level choices with a k3s flag of the
	// same name: snapshotter, flannel-backend, disable-agent,
	// disable-kube-proxy, disable-network-policy, disable, data-dir. A
	// kubernetes engine's plan keeps only those its renderer reads
	// (upstreamVocabulary): containerd's snapshotter, and whether it
	// starts kube-proxy and kube-network-policies.
	Cluster Component = "cluster"
	// NodeAgent settings are flags of kprobe's process-pod node agent
	// (kprobe node-agent), which runs at TP instead of a kubelet.
	NodeAgent Component = "node-agent"
)

// Setting is one engine-neutral configuration choice.
type Setting struct {
	Component Component `json:"component"`
	// Name is the component's own flag name (kubelet "fail-cgroupv1"),
	// containerd's CRI key ("restrict_oom_score_adj") or the cluster-level
	// k3s flag name ("snapshotter").
	Name  string `json:"name"`
	Value string `json:"value"`
	// Reason is the code of the rule that chose it.
	Reason    string `json:"reason"`
	Rationale string `json:"rationale"`
	Source    string `json:"source,omitempty"`
}

func (s Setting) String() string {
	return fmt.Sprintf("%s %s=%s", s.Component, s.Name, s.Value)
}

// Shim is a reversible change kprobe applies before the engine starts (a
// /dev/kmsg stand-in, an rshared remount...). Shims are undone by stop.
type Shim struct {
	Name      string `json:"name"`
	Reason    string `json:"reason"`
	Rationale string `json:"rationale"`
}

// Plan is what launch will do, with the reason for every choice.
type Plan struct {
	Engine   string           `json:"engine"`
	Rung     profiles.Rung    `json:"rung"`
	DataDir  string           `json:"dataDir"`
	Settings []Setting        `json:"settings"`
	Shims    []Shim           `json:"shims,omitempty"`
	Runtime  string           `json:"runtime"`
	Verdict  profiles.Verdict `json:"verdict"`
	Facts    probes.Facts     `json:"-"`
	Notes    []string         `json:"notes,omitempty"`
	// Modules are the kernel modules launch loads (through the host
	// journal: stop unloads them when nothing else uses them).
	Modules []string `json:"modules,omitempty"`
}

// Get returns the value of a setting and whether the plan has it.
func (p *Plan) Get(c Component, name string) (string, bool) {
	for _, s := range p.Settings {
		if s.Component == c && s.Name == name {
			return s.Value, true
		}
	}
	return "", false
}

// Has reports whether a cluster-level switch is on ("true").
func (p *Plan) Has(name string) bool {
	v, ok := p.Get(Cluster, name)
	return ok && v == "true"
}

// ProcessPods reports whether the plan runs pods as processes (TP): the
// node agent instead of a kubelet, containerd and runc.
func (p *Plan) ProcessPods() bool { return p.Rung == profiles.TP }

// Worker reports whether the plan runs a kubelet and containerd: not at
// TP, T3 or T4, nor where k3s's disable-agent says so.
func (p *Plan) Worker() bool {
	switch p.Rung {
	case profiles.TP, profiles.T3, profiles.T4:
		return false
	}
	return !p.Has("disable-agent")
}

// For returns the settings of one component in a stable order.
func (p *Plan) For(c Component) []Setting {
	var out []Setting
	for _, s := range p.Settings {
		if s.Component == c {
			out = append(out, s)
		}
	}
	return out
}

// Options are the user's choices that planning honours.
type Options struct {
	Engine  string // k3s or kubernetes; "" means decide later (auto)
	DataDir string
	// Rung plans for this rung instead of the profile's verdict: the
	// launcher steps down the ladder with it.
	Rung profiles.Rung
	// NoProcessPods keeps the ladder off TP (launch --process-pods=false).
	NoProcessPods bool
}

// Allows reports whether the ladder may plan rung r: TP runs beside the
// kubernetes engine only (k3s brings its own agent) and not with
// NoProcessPods.
func (o Options) Allows(r profiles.Rung) bool {
	if r != profiles.TP {
		return true
	}
	return !o.NoProcessPods && o.Engine != EngineK3s
}

// whyNot says why Allows refuses TP.
func (o Options) whyNot() string {
	if o.NoProcessPods {
		return "process pods are off (--process-pods=false)"
	}
	return "process pods run beside the kubernetes engine only (--engine kubernetes), not k3s"
}

// Build plans a launch for a profile: pure, with no side effect.
func Build(p *profiles.Profile, o Options) (*Plan, error) {
	if p == nil {
		return nil, fmt.Errorf("no profile")
	}
	// The profile's verdict holds for every engine; the engine's own
	// needs no requirement of the other (k3s's flannel vxlan).
	verdict := profiles.ForEngine(p.Verdict, p.Facts, o.Engine)
	plan := &Plan{
		Engine:  o.Engine,
		Rung:    verdict.Rung,
		DataDir: o.DataDir,
		Runtime: "runc",
		Verdict: verdict,
		Facts:   p.Facts,
	}
	if plan.Rung == "" {
		plan.Rung = profiles.JudgeFor(p.Facts, o.Engine).Rung
	}
	if o.Rung != "" {
		if !profiles.ValidRung(o.Rung) {
			return nil, fmt.Errorf("rung %q is not one of %v", o.Rung, profiles.Rungs)
		}
		plan.Rung = o.Rung
	}
	if !o.Allows(plan.Rung) {
		// The rung below TP is T3.
		plan.Notes = append(plan.Notes, fmt.Sprintf("%s instead of %s: %s", profiles.T3, plan.Rung, o.whyNot()))
		plan.Rung = profiles.T3
	}
	seen := map[string]int{}
	for _, r := range Rules {
		if !r.applies(p.Facts, plan.Rung) {
			continue
		}
		for _, s := range r.Settings {
			s.Reason, s.Rationale, s.Source = r.Code, r.Rationale, r.Source
			key := string(s.Component) + "/" + s.Name
			if i, dup := seen[key]; dup {
				// A later rule refines an earlier one (rules are ordered).
				plan.Settings[i] = s
				continue
			}
			seen[key] = len(plan.Settings)
			plan.Settings = append(plan.Settings, s)
		}
		for _, sh := range r.Shims {
			sh.Reason, sh.Rationale = r.Code, r.Rationale
			plan.Shims = append(plan.Shims, sh)
		}
	}
	nestCgroupRoot(plan, p.Facts)
	if plan.Engine == EngineKubernetes {
		upstreamVocabulary(plan)
		upstreamNetwork(plan, p.Facts)
		plan.Notes = append(plan.Notes, upstreamProcesses(plan))
	}
	planModules(plan, p.Facts)
	outerEngineRoute(plan, p.Facts)
	sortSettings(plan.Settings)
	return plan, nil
}

// upstreamVocabulary keeps a kubernetes engine's plan to the settings its
// renderer (adapters/upstream) reads (InVocabulary).
func upstreamVocabulary(plan *Plan) {
	kept := plan.Settings[:0]
	for _, s := range plan.Settings {
		if s, why := plan.InVocabulary(s); why == "" {
			kept = append(kept, s)
		}
	}
	plan.Settings = kept
}

// InVocabulary returns s as the plan's engine reads it, or why that engine
// has no such setting. The rules and the log signatures' remedies speak
// k3s's flags, and k3s reads them all. The kubernetes engine's renderer
// (adapters/upstream) reads the components' flags and containerd's keys;
// of the Cluster settings it has none of flannel-backend (it runs no
// flannel), disable-agent (the rung says whether a kubelet or the node
// agent runs), disable (k3s's packaged components) or data-dir (its data
// dir stays where launch --data-dir says, with tmpfs-datadir's tmpfs on
// it), and reads snapshotter and disable-kube-proxy only where a kubelet
// runs. Its containerd has no fuse-overlayfs snapshotter: it runs native
// there.
func (p *Plan) InVocabulary(s Setting) (Setting, string) {
	if p.Engine != EngineKubernetes || s.Component != Cluster {
		return s, ""
	}
	switch s.Name {
	case "disable-network-policy":
	case "snapshotter", "disable-kube-proxy":
		if !p.Worker() {
			return s, fmt.Sprintf("%s: no kubelet runs at %s with the kubernetes engine", s.Name, p.Rung)
		}
		if s.Value == "fuse-overlayfs" {
			s.Value = "native"
			s.Rationale += "; the kubernetes engine's containerd has no fuse-overlayfs snapshotter, so it runs native, which works wherever fuse-overlayfs would, only slower"
		}
	case "flannel-backend":
		return s, "flannel-backend=" + s.Value + " is k3s's: the kubernetes engine runs no flannel (a plain bridge network, no vxlan)"
	case "disable-agent":
		return s, "disable-agent is k3s's: with the kubernetes engine the rung says whether a kubelet runs"
	case "disable":
		return s, "disable is k3s's: it turns off k3s's packaged components, which the kubernetes engine does not run"
	case "data-dir":
		return s, "data-dir is k3s's: the kubernetes engine's data dir is launch --data-dir"
	default:
		return s, s.Name + " is a k3s setting the kubernetes engine does not have"
	}
	return s, ""
}

const upstreamProcessesPrefix = "the kubernetes engine starts "

// upstreamProcesses says which processes the kubernetes engine starts for
// the plan (adapters/upstream.Render; TestUpstreamProcessesNote holds the
// two together). Called after upstreamNetwork.
func upstreamProcesses(plan *Plan) string {
	ps := "etcd, kube-apiserver, kube-controller-manager, kube-scheduler"
	merged := "kube-apiserver, kube-controller-manager and kube-scheduler"
	switch {
	case plan.ProcessPods():
		return upstreamProcessesPrefix + ps + ", node-agent (kprobe-node-agent instead of a kubelet): no kubelet, containerd, runc, CNI or kube-proxy; " + inOneProcess(merged)
	case !plan.Worker():
		return upstreamProcessesPrefix + ps + ": the control plane only, no kubelet, containerd or kube-proxy; " + inOneProcess(merged)
	}
	ps += ", containerd, kubelet"
	merged = "kube-apiserver, kube-controller-manager, kube-scheduler and the first node's kubelet"
	if !plan.Has("disable-kube-proxy") {
		ps += ", kube-proxy"
		merged = "kube-apiserver, kube-controller-manager, kube-scheduler and the first node's kubelet and kube-proxy"
	}
	if plan.EnforcesNetworkPolicy() {
		ps += ", kube-network-policies"
	}
	return upstreamProcessesPrefix + ps + ": " + inOneProcess(merged)
}

// inOneProcess says how launch really runs the components where bin/engine
// has kube-control-plane (adapters/upstream.Render's merges).
func inOneProcess(components string) string {
	return components + " run as one kube-control-plane process where the engine has it (kprobe status lists the processes)"
}

// upstreamNetwork keeps a kubernetes engine's plan to what that engine
// runs: a plain bridge network (the bridge, host-local and portmap CNI
// plugins), no flannel and so no vxlan or host-gw backend, and
// NetworkPolicy enforced by kube-network-policies only where nf_tables
// works (R-NETPOL-NO-NFTABLES). It masquerades where kube-proxy runs.
func upstreamNetwork(plan *Plan, f probes.Facts) {
	if !plan.Worker() {
		return
	}
	if !plan.Has("disable-network-policy") && f.Tri("net.iptables_nft") != probes.Yes {
		plan.Settings = append(plan.Settings, Setting{Component: Cluster, Name: "disable-network-policy", Value: "true",
			Reason:    "R-NETPOL-NO-NFTABLES",
			Rationale: "kube-network-policies filters through an nf_tables table (family inet) and nfqueue, and iptables-nft could not create a chain and a rule here (net.iptables_nft is not yes): NetworkPolicy is not enforced",
			Source:    "sigs.k8s.io/kube-network-policies v0.8.0 pkg/networkpolicy; issue #14"})
	}
	if plan.EnforcesNetworkPolicy() {
		plan.Notes = append(plan.Notes, netpolNote)
	} else {
		plan.Notes = append(plan.Notes, "the kubernetes engine runs a plain bridge network (bridge, host-local and portmap CNI plugins: no flannel, no vxlan) and enforces no NetworkPolicy")
	}
}

// DisableNetworkPolicy turns enforcement off at launch, when what the
// facts allowed cannot run after all; why goes into the plan's notes.
func (p *Plan) DisableNetworkPolicy(why string) {
	p.Settings = append(p.Settings, Setting{Component: Cluster, Name: "disable-network-policy", Value: "true",
		Reason: "R-NETPOL-UNAVAILABLE", Rationale: why})
	sortSettings(p.Settings)
	for i, n := range p.Notes {
		if n == netpolNote {
			p.Notes = append(p.Notes[:i], p.Notes[i+1:]...)
			break
		}
	}
	for i, n := range p.Notes {
		if strings.HasPrefix(n, upstreamProcessesPrefix) {
			p.Notes[i] = upstreamProcesses(p)
		}
	}
	p.Notes = append(p.Notes, "NetworkPolicy not enforced: "+why)
}

const netpolNote = "the kubernetes engine runs a plain bridge network (bridge, host-local and portmap CNI plugins: no flannel, no vxlan); kube-network-policies enforces NetworkPolicy (nfqueue 100) where the kernel queues packets to it, through nf_tables (nft_queue) or else an iptables NFQUEUE rule: launch asks the kernel which and, where neither works, runs without and says so"

// WhyNoNetworkPolicy says why the plan enforces no NetworkPolicy, from the
// rule that turned it off; "" when it enforces it.
func (p *Plan) WhyNoNetworkPolicy() string {
	if p.EnforcesNetworkPolicy() {
		return ""
	}
	for _, s := range p.Settings {
		if s.Component == Cluster && s.Name == "disable-network-policy" {
			return "the plan enforces no NetworkPolicy (" + s.Reason + ": " + s.Rationale + ")"
		}
	}
	return "the plan enforces no NetworkPolicy (rung " + string(p.Rung) + " runs no worker)"
}

// EnforcesNetworkPolicy says whether the plan's engine enforces
// NetworkPolicy: k3s with its network policy controller, the kubernetes
// engine with kube-network-policies, both only on a worker rung.
func (p *Plan) EnforcesNetworkPolicy() bool {
	return p.Worker() && !p.Has("disable-network-policy")
}

// RungTitle says what the plan's rung gives with the plan's engine: the
// ladder's titles speak of flannel, which only k3s runs; the kubernetes
// engine's say whether this plan enforces NetworkPolicy.
func (p *Plan) RungTitle() string {
	t := RungTitleFor(p.Engine, p.Rung)
	if p.EnforcesNetworkPolicy() {
		// Whether the kernel queues packets to it (nft_queue or the
		// iptables NFQUEUE target) only the launch finds out
		// (adapters/launch/netpol.go); the title says so.
		return strings.Replace(t, netpolWhereNFTables, "NetworkPolicy by kube-network-policies where the kernel can queue packets to it: launch checks", 1)
	}
	return strings.Replace(t, netpolWhereNFTables, "NetworkPolicy not enforced", 1)
}

// RungTitleFor is the title of rung r with engine.
func RungTitleFor(engine string, r profiles.Rung) string {
	if engine == EngineKubernetes {
		if t, ok := upstreamRungTitle[r]; ok {
			return t
		}
	}
	return profiles.RungTitle[r]
}

// netpolWhereNFTables is what a kubernetes engine's T0 or T1 promises
// before the facts are known; a plan's RungTitle says which it is.
const netpolWhereNFTables = "NetworkPolicy where nf_tables works"

var upstreamRungTitle = map[profiles.Rung]string{
	profiles.T0: "full cluster (overlayfs, bridge network, kube-proxy; " + netpolWhereNFTables + ")",
	profiles.T1: "degraded worker (fallback snapshotter, shims, bridge network; " + netpolWhereNFTables + ")",
	profiles.T2: "worker without kube-proxy (bridge network; NetworkPolicy not enforced)",
}

func (r Rule) applies(f probes.Facts, rung profiles.Rung) bool {
	if len(r.Rungs) > 0 {
		in := false
		for _, x := range r.Rungs {
			in = in || x == rung
		}
		if !in {
			return false
		}
	}
	return r.When == nil || r.When(f)
}

func sortSettings(ss []Setting) {
	sort.SliceStable(ss, func(i, j int) bool {
		a, b := ss[i], ss[j]
		if a.Component != b.Component {
			return a.Component < b.Component
		}
		return a.Name < b.Name
	})
}
