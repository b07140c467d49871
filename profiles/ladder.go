package profiles

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/resources"
)

// Rung is a step of the fallback ladder, best first.
type Rung string

const (
	T0 Rung = "T0" // full: overlayfs snapshotter, flannel vxlan, kube-proxy, network policy
	T1 Rung = "T1" // degraded worker: shims and workarounds
	T2 Rung = "T2" // worker without kube-proxy, network policy or flannel
	// TP runs pods as processes of the sandbox: the control plane and
	// kprobe's node agent, no kubelet, containerd, runc, CNI or kube-proxy.
	TP Rung = "TP"
	T3 Rung = "T3" // control plane only
	T4 Rung = "T4" // not possible here
)

// Rungs lists the ladder from the top.
var Rungs = []Rung{T0, T1, T2, TP, T3, T4}

// RungTitle says what a rung gives the user.
var RungTitle = map[Rung]string{
	T0: "full cluster (overlayfs, flannel vxlan, kube-proxy, network policy)",
	T1: "degraded worker (fallback snapshotter, shims, host-gw networking)",
	T2: "worker without kube-proxy, network policy or flannel",
	TP: "process pods: pods run as processes of the sandbox (no isolation between pods and the sandbox, host network)",
	T3: "control plane only (kubectl and helm --dry-run=server work, no pods run)",
	T4: "nothing: the control plane cannot run here",
}

// GivesUp says in one line what a rung gives up against a full cluster;
// "" for the rungs whose title already says it.
var GivesUp = map[Rung]string{
	TP: "no isolation between pods and the sandbox, one network for every pod (each on a loopback address of its own where the node agent can ptrace it, else one port space; Services through the node agent's proxy), no NetworkPolicy (R-TP-NO-NETWORK-POLICY)",
}

// Index is r's position on the ladder, best first; an unknown rung sorts
// after T4. Compare rungs with it, never as strings ("TP" > "T3").
func Index(r Rung) int {
	for i, x := range Rungs {
		if x == r {
			return i
		}
	}
	return len(Rungs)
}

// Above reports whether a is a higher (better) rung than b.
func Above(a, b Rung) bool { return Index(a) < Index(b) }

// ValidRung reports whether r names a rung.
func ValidRung(r Rung) bool {
	for _, x := range Rungs {
		if x == r {
			return true
		}
	}
	return false
}

// Requirement is one condition a rung needs, stated on facts.
type Requirement struct {
	// Rung is the highest rung that needs it; every rung above needs it too.
	Rung Rung
	// Name is what the requirement is, in a few words.
	Name string
	// Check returns Yes when met, No when not, Unknown when the facts
	// cannot tell; detail is the evidence in a few words.
	Check func(f probes.Facts) (met probes.Tri, detail string)
	// Fix says what environment change would meet it.
	Fix string
	// FixFor, when set and not "", replaces Fix with a text chosen by the
	// evidence of the cause (an errno, the kernel).
	FixFor func(f probes.Facts) string
	// Facts are the fact keys Check reads: a profile without them cannot
	// be judged (MissingFacts).
	Facts []string
	// Engines, when set, are the only engines that need it (by name, as
	// adapters.EngineK3s): a plan for another engine is neither blocked
	// nor decided by it. Empty means every engine needs it.
	Engines []string
}

// NeededBy reports whether engine needs req. The engine "" (not chosen
// yet, as in a scan) needs every requirement.
func (req Requirement) NeededBy(engine string) bool {
	return engine == "" || len(req.Engines) == 0 || slices.Contains(req.Engines, engine)
}

// Unmet is a requirement a rung does not meet, or could not verify.
type Unmet struct {
	Requirement string `json:"requirement" toml:"requirement"`
	Detail      string `json:"detail,omitempty" toml:"detail,omitempty"`
	Fix         string `json:"fix,omitempty" toml:"fix,omitempty"`
}

// RungCheck is the judgement of one rung.
type RungCheck struct {
	Rung       Rung    `json:"rung" toml:"rung"`
	Possible   bool    `json:"possible" toml:"possible"`
	Blockers   []Unmet `json:"blockers,omitempty" toml:"blockers,omitempty"`
	Unverified []Unmet `json:"unverified,omitempty" toml:"unverified,omitempty"`
}

// Verdict is the highest rung the sandbox looks able to reach and why the
// rungs above it are out of reach.
type Verdict struct {
	Rung   Rung        `json:"rung" toml:"rung"`
	Title  string      `json:"title" toml:"title"`
	Checks []RungCheck `json:"checks" toml:"checks"`
}

func tri(f probes.Facts, key string) (probes.Tri, string) {
	v := f.Tri(key)
	return v, key + "=" + v.String()
}

func allOf(keys ...string) func(probes.Facts) (probes.Tri, string) {
	return func(f probes.Facts) (probes.Tri, string) {
		res, detail := probes.Yes, ""
		for _, k := range keys {
			v, d := tri(f, k)
			if v == probes.No {
				return probes.No, d
			}
			if v == probes.Unknown {
				res, detail = probes.Unknown, d
			}
		}
		if res == probes.Yes {
			detail = keys[0] + "=yes"
		}
		return res, detail
	}
}

func anyOf(keys ...string) func(probes.Facts) (probes.Tri, string) {
	return func(f probes.Facts) (probes.Tri, string) {
		res, detail := probes.No, ""
		for _, k := range keys {
			v, d := tri(f, k)
			if v == probes.Yes {
				return probes.Yes, d
			}
			if v == probes.Unknown {
				res = probes.Unknown
			}
			if detail != "" {
				detail += ", "
			}
			detail += d
		}
		return res, detail
	}
}

// Ladder is the requirement table of the fallback ladder. A rung is
// possible when its requirements and those of every rung below it hold.
// Unknown facts never rule a rung out; they are listed as unverified.
var Ladder = []Requirement{
	{Rung: T3, Name: "at least 768 MiB of memory (the control plane)", Facts: []string{"res.memory_bytes"},
		Fix: "give the sandbox 1 GiB or more of memory (docker run --memory 1g, or more VM memory)", Check: memoryAtLeast(resources.ControlPlaneMemory)},
	{Rung: T2, Name: "at least 1 GiB of memory (a worker)", Facts: []string{"res.memory_bytes"},
		Fix: "give the sandbox 1 GiB or more of memory (docker run --memory 1g, or more VM memory); with less only the control plane fits (T3)", Check: memoryAtLeast(resources.WorkerMemory)},
	{Rung: T3, Name: "a loopback interface", Facts: []string{"net.interfaces"},
		Fix: "run the sandbox with a network namespace that has lo, and lo up or CAP_NET_ADMIN (kprobe launch then brings it up)",
		Check: func(f probes.Facts) (probes.Tri, string) {
			ifs, ok := f["net.interfaces"]
			if !ok {
				return probes.Unknown, "net.interfaces unknown"
			}
			if !slices.Contains(ifs.([]string), "lo") {
				return probes.No, "no lo in net.interfaces"
			}
			if f.Tri("net.lo_up") != probes.No {
				return probes.Yes, "lo present"
			}
			// Down: launch brings it up itself, with CAP_NET_ADMIN.
			_, known := f["priv.caps"]
			switch {
			case !known:
				return probes.Unknown, "lo down (net.lo_up=no), priv.caps unknown"
			case slices.Contains(f.List("priv.caps"), "net_admin"):
				return probes.Yes, "lo down, CAP_NET_ADMIN: launch brings it up"
			}
			return probes.No, "lo down (net.lo_up=no) and no CAP_NET_ADMIN to bring it up"
		}},
	{Rung: T2, Name: "a container can start", Facts: []string{"container.best"}, Check: func(f probes.Facts) (probes.Tri, string) {
		best := f.String("container.best")
		switch best {
		case "":
			return probes.Unknown, "container probe did not run"
		case "none":
			return probes.No, "container.best=none"
		}
		return probes.Yes, "container.best=" + best
	}, Fix: "run the sandbox with CAP_SYS_ADMIN (docker run --privileged) or allow user namespaces; otherwise only the control plane can run"},
	// Facts is left empty for the requirements added after profiles were
	// first saved (issue #18): a profile without the fact is still
	// plannable, and the requirement is listed as unverified.
	{Rung: T2, Name: "the worker's fixed directories can be created", Check: allOf("fs.engine_dirs"),
		Fix: "run kprobe as real root, or create them beforehand as root and give them to the sandbox's user (kprobe scan lists them under KP-FS-008)"},
	{Rung: T1, Name: "IP forwarding on, or writable", Check: func(f probes.Facts) (probes.Tri, string) {
		state, value := f.String("sysctl.net.ipv4.ip_forward"), f.String("sysctl.net.ipv4.ip_forward.value")
		switch {
		case state == "":
			return probes.Unknown, "sysctl.net.ipv4.ip_forward unknown"
		case state == "readonly" && value == "0":
			return probes.No, "net.ipv4.ip_forward=0 and read-only"
		}
		return probes.Yes, "net.ipv4.ip_forward " + state + " (" + value + ")"
	}, Fix: "on the host: sysctl -w net.ipv4.ip_forward=1 (Docker: docker run --sysctl net.ipv4.ip_forward=1); without it kprobe runs the worker without kube-proxy and flannel (T2)"},
	{Rung: T2, Name: "mount namespaces", Facts: []string{"ns.mount", "ns.userns_mount"}, Check: anyOf("ns.mount", "ns.userns_mount"),
		Fix: "allow unshare(CLONE_NEWNS) (drop the seccomp filter that blocks it, or grant CAP_SYS_ADMIN)"},
	{Rung: T1, Name: "iptables usable (kube-proxy, network policy)", Facts: []string{"net.iptables_backend"}, Check: func(f probes.Facts) (probes.Tri, string) {
		b := f.String("net.iptables_backend")
		switch b {
		case "":
			return probes.Unknown, "iptables probe did not run"
		case "none":
			return probes.No, "net.iptables_backend=none"
		}
		return probes.Yes, "net.iptables_backend=" + b
	}, Fix: "grant CAP_NET_ADMIN and install iptables; without it kprobe disables kube-proxy and network policy (T2)"},
	// Every worker rung gives pods a network through the bridge CNI plugin
	// (the upstream engine always writes one), so T2 needs the links too.
	{Rung: T2, Name: "veth and bridge links for pod networking", Facts: []string{"net.veth", "net.bridge"}, Check: allOf("net.veth", "net.bridge"),
		Fix: "grant CAP_NET_ADMIN so the bridge CNI can create veth pairs and a bridge",
		FixFor: func(f probes.Facts) string {
			switch f.String("net.link_errno") {
			case "EOPNOTSUPP", "ENOTSUP", "EPROTONOSUPPORT", "ENODEV":
				if f.Tri("kernel.emulated") == probes.Yes {
					return "gVisor's netstack has no veth or bridge links: no pod network can be made here (kprobe launch --process-pods runs pods as processes)"
				}
				return "the kernel has no veth or bridge module: on the host, modprobe veth bridge (CAP_NET_ADMIN would not help)"
			}
			return ""
		}},
	{Rung: T0, Name: "overlay mountable on the data dir", Facts: []string{"overlay.mount_datadir"}, Check: allOf("overlay.mount_datadir"),
		Fix: "put the data dir on ext4, xfs or tmpfs, or use fuse-overlayfs/native snapshotters (T1)"},
	// Only k3s runs flannel; the kubernetes engine connects pods with the
	// bridge CNI plugin (the veth and bridge requirement above).
	{Rung: T0, Name: "vxlan links (flannel's default backend)", Facts: []string{"net.vxlan"}, Check: allOf("net.vxlan"), Engines: []string{"k3s"},
		Fix: "on the host: modprobe vxlan; otherwise kprobe launch starts k3s with flannel's host-gw backend (T1), and the kubernetes engine connects pods with a bridge, which needs no vxlan"},
	{Rung: T0, Name: "/dev/kmsg readable", Facts: []string{"dev.kmsg_readable"}, Check: allOf("dev.kmsg_readable"),
		Fix: "pass /dev/kmsg into the sandbox (docker run --device /dev/kmsg); otherwise kprobe launch applies its /dev/kmsg shim itself (T1)"},
	{Rung: T0, Name: "cgroups writable", Facts: []string{"cgroups.writable"}, Check: allOf("cgroups.writable"),
		Fix: "delegate a writable cgroup to the sandbox (cgroup v2 with Delegate=yes, or docker run --cgroupns=private with a rw cgroupfs)"},
	{Rung: T0, Name: "kubelet can stat its root filesystem", Facts: []string{"fs.datadir.kubelet_stats"}, Check: allOf("fs.datadir.kubelet_stats"),
		Fix: "put the kubelet's root dir on a block-device filesystem; otherwise kprobe launch sets the kubelet's localStorageCapacityIsolation: false itself (T1)"},
	{Rung: T0, Name: "/ can be made rshared", Facts: []string{"mount.rshared_possible"}, Check: anyOf("mount.rshared_possible"),
		Fix: "run the sandbox with CAP_SYS_ADMIN (docker run --privileged), where kprobe launch makes / rshared itself in a private mount namespace; without it pods that use mount propagation cannot run (T1)"},
	{Rung: T0, Name: "not inside a user namespace", Facts: []string{"priv.userns"}, Check: func(f probes.Facts) (probes.Tri, string) {
		v := f.Tri("priv.userns")
		switch v {
		case probes.Yes:
			return probes.No, "priv.userns=yes (KubeletInUserNamespace needed)"
		case probes.No:
			return probes.Yes, "priv.userns=no"
		}
		return probes.Unknown, "priv.userns=unknown"
	}, Fix: "run as real root; in a user namespace kprobe enables KubeletInUserNamespace (T1)"},
}

// memoryAtLeast checks res.memory_bytes against a measured floor
// (probes/resources), with the same 1/16 allowance as the probe.
func memoryAtLeast(floor int64) func(probes.Facts) (probes.Tri, string) {
	return func(f probes.Facts) (probes.Tri, string) {
		m, ok := f.Int("res.memory_bytes")
		if !ok {
			return probes.Unknown, "res.memory_bytes unknown"
		}
		return probes.TriOf(resources.MeetsMemory(m, floor)), "res.memory_bytes=" + strconv.FormatInt(m>>20, 10) + "MiB"
	}
}

// ContainerFact is the container probe's fact the ladder reads.
const ContainerFact = "container.best"

// ContainerNeeded reports whether the container probe's answer can change
// the verdict, given the facts of the other probes. It decides only "a
// container can start", a T2 requirement: where another requirement of
// T2 or below that every engine has is not met, no rung from T2 up is
// possible whatever containers do, and the verdict (TP, T3 or T4) is the
// same without it. Unknown facts never make it unneeded, and more facts
// never turn a "not needed" back (a requirement not met stays so).
func ContainerNeeded(f probes.Facts) (bool, string) {
	for _, req := range Ladder {
		if Index(req.Rung) < Index(T2) || len(req.Engines) > 0 || slices.Contains(req.Facts, ContainerFact) {
			continue
		}
		if met, detail := req.Check(f); met == probes.No {
			return false, "the container probe cannot change the verdict: \"" + req.Name + "\" is not met (" + detail + "), so no rung from T2 up is possible whatever containers do"
		}
	}
	return true, ""
}

// ContainerHold says whether a scan holds the container probe's start
// (probes.Options.Hold) on the facts found so far: in gVisor
// (kernel.emulated, from the quick kernel probe) the netstack has had no
// veth links, so network.netns closes the probe's gate (ContainerNeeded)
// there, and every process start costs 20-50 ms of the cores the other
// probes need (the container probe's child and its op took ~150 ms from a
// gvisor-run scan). It is held only until net.veth is known, and only the
// start moves: where the gate stays open the probe still runs.
func ContainerHold(f probes.Facts) probes.Tri {
	if _, known := f["kernel.emulated"]; !known {
		return probes.Unknown
	}
	return probes.TriOf(f.Tri("kernel.emulated") == probes.Yes && f.Tri("net.veth") == probes.Unknown)
}

// MissingFacts returns the fact keys the ladder reads that f lacks,
// sorted. A fact whose value is unknown is there: a probe looked. A
// missing one would be taken for "no blocker" and plan T0. The container
// probe's fact is not missing where it cannot change the verdict
// (ContainerNeeded): the scan skips that probe there.
func MissingFacts(f probes.Facts) []string {
	var out []string
	for _, req := range Ladder {
		for _, k := range req.Facts {
			if k == ContainerFact {
				if needed, _ := ContainerNeeded(f); !needed {
					continue
				}
			}
			if _, ok := f[k]; !ok && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Judge runs the ladder over facts, with the requirements of every
// engine: a scan does not know which engine will run.
func Judge(f probes.Facts) Verdict { return judge(f, false, "") }

// JudgeOnEvidence is Judge for a scan that left the trials out (scan
// --passive): a rung is claimed only when every requirement of it is
// known to hold, so the verdict is never above what the full scan gives.
func JudgeOnEvidence(f probes.Facts) Verdict { return judge(f, true, "") }

// JudgeFor is Judge with only the requirements engine has (NeededBy).
func JudgeFor(f probes.Facts, engine string) Verdict { return judge(f, false, engine) }

// ForEngine re-judges v, the verdict Judge or JudgeOnEvidence gave on f,
// with only the requirements engine has, in the same way (full or on
// evidence). Where both give v, it re-judges on evidence: a rung whose
// other requirements are unverified is then not claimed for engine, as it
// was not for every engine. A verdict neither gives (a profile file edited
// by hand) is returned as it is, and so is v when engine is "".
func ForEngine(v Verdict, f probes.Facts, engine string) Verdict {
	if engine == "" {
		return v
	}
	for _, onEvidence := range []bool{true, false} {
		if sameJudgement(v, judge(f, onEvidence, "")) {
			return judge(f, onEvidence, engine)
		}
	}
	return v
}

// sameJudgement compares two verdicts by rung, possibility and the number
// of blockers and unverified requirements of each rung: the details and
// fixes are texts that may have changed since a profile was written.
func sameJudgement(a, b Verdict) bool {
	if a.Rung != b.Rung || len(a.Checks) != len(b.Checks) {
		return false
	}
	for i, x := range a.Checks {
		y := b.Checks[i]
		if x.Rung != y.Rung || x.Possible != y.Possible || len(x.Blockers) != len(y.Blockers) || len(x.Unverified) != len(y.Unverified) {
			return false
		}
	}
	return true
}

func judge(f probes.Facts, onEvidence bool, engine string) Verdict {
	var checks []RungCheck
	best := T4
	// Walk from T3 up to T0; a rung is possible only if the one below is.
	// TP needs nothing beyond T3: a process runs wherever the control
	// plane does, and the facts only choose its isolation (adapters rule
	// R-TP-ISOLATION-...).
	belowOK := true
	for i := Index(T3); i >= 0; i-- {
		r := Rungs[i]
		rc := RungCheck{Rung: r}
		for _, req := range Ladder {
			if Index(req.Rung) < i || !req.NeededBy(engine) {
				continue // needed only by rungs above r, or by another engine
			}
			met, detail := req.Check(f)
			u := Unmet{Requirement: req.Name, Detail: detail, Fix: req.Fix}
			if req.FixFor != nil && met == probes.No {
				if fix := req.FixFor(f); fix != "" {
					u.Fix = fix
				}
			}
			switch met {
			case probes.No:
				rc.Blockers = append(rc.Blockers, u)
			case probes.Unknown:
				rc.Unverified = append(rc.Unverified, u)
			}
		}
		rc.Possible = belowOK && len(rc.Blockers) == 0 && (!onEvidence || len(rc.Unverified) == 0)
		if rc.Possible {
			best = r
		}
		belowOK = rc.Possible
		checks = append([]RungCheck{rc}, checks...)
	}
	return Verdict{Rung: best, Title: RungTitle[best], Checks: checks}
}

// String summarises the verdict in one line.
func (v Verdict) String() string { return fmt.Sprintf("%s: %s", v.Rung, v.Title) }
