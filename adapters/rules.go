package adapters

import (
	"slices"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/kernel"
	"github.com/kprobe/kprobe/probes/sysctls"
	"github.com/kprobe/kprobe/profiles"
)

// Rule is one row of the adaptation table: a condition on facts (and on
// the rung being planned) and what to set when it holds. Rules are data;
// Build applies them in order.
type Rule struct {
	// Code is the stable reason code carried by everything the rule sets.
	Code string
	// When decides on the facts; nil means always. It must be false when
	// a fact it needs is unknown: unknown is never "no".
	When func(f probes.Facts) bool
	// Rungs limits the rule to these rungs of the ladder; empty means
	// every rung (T2-only rules disable kube-proxy, T3 disables the agent).
	Rungs     []profiles.Rung
	Settings  []Setting
	Shims     []Shim
	Rationale string
	Source    string
}

// Shim names: the contract with adapters/shims, which applies each one
// before the engine starts and undoes it on stop.
const (
	// ShimKmsg gives the kubelet a /dev/kmsg it can open (a bind of
	// /dev/null, or a symlink to /dev/console) in a private mount namespace.
	ShimKmsg = "kmsg"
	// ShimRshared makes / rshared in a private mount namespace.
	ShimRshared = "rshared"
	// ShimCgroupEvacuate moves the processes of the cgroup2 root into a
	// child so that controllers can be enabled in subtree_control.
	ShimCgroupEvacuate = "cgroup-evacuate"
	// ShimTmpfsDataDir puts the data dir the plan names (the cluster
	// setting data-dir, TmpfsDataDir) on a tmpfs: it mounts one there
	// unless that path already is on a tmpfs.
	ShimTmpfsDataDir = "tmpfs-datadir"
	// ShimFakeSysctls puts files holding the kubelet's values over the
	// kernel tunables it reads and cannot write (or that do not exist).
	ShimFakeSysctls = "fake-sysctls"
	// ShimRuntimeWrapper is an OCI runtime wrapper that rewrites each
	// container spec before runc sees it (drops the cgroup namespace where
	// the kernel has none, and oomScoreAdj where it cannot be set).
	ShimRuntimeWrapper = "runtime-wrapper"
)

// ShimNames lists every shim a rule may ask for.
var ShimNames = []string{ShimKmsg, ShimRshared, ShimCgroupEvacuate, ShimTmpfsDataDir, ShimFakeSysctls, ShimRuntimeWrapper}

// TmpfsDataDir is where the data dir goes when its filesystem cannot hold
// it (9p): /tmp is a tmpfs of its own in gVisor, even under a 9p root.
const TmpfsDataDir = "/tmp/kprobe/data"

// Eviction settings for a kubelet that cannot trust its disk statistics
// or sits on a nearly full disk: evict only when a filesystem is really
// full, keep the memory default, and never garbage-collect images (the
// usage the kubelet sees is wrong, and images cannot be pulled again in
// an offline sandbox).
const (
	EvictionHard      = "imagefs.available<1%,nodefs.available<1%,memory.available<100Mi"
	ImageGCHighPct    = "100"
	ImageGCLowPct     = "99"
	nodefsEvictionPct = 10 // the kubelet's default nodefs.available<10%
	imagefsEvictPct   = 15 // the kubelet's default imagefs.available<15%
)

// Rung sets the rules apply to.
var (
	// rungsRunning: something runs (the control plane at least).
	rungsRunning = []profiles.Rung{profiles.T0, profiles.T1, profiles.T2, profiles.TP, profiles.T3}
	// rungsWorker: a kubelet and containerd run.
	rungsWorker = []profiles.Rung{profiles.T0, profiles.T1, profiles.T2}
	// rungsNetworked: flannel, kube-proxy and network policy run too.
	rungsNetworked = []profiles.Rung{profiles.T0, profiles.T1}
)

// Condition helpers. Each is true only on known facts.

type cond = func(probes.Facts) bool

// triIs holds when the tri-state fact at key is known and equals want.
func triIs(key string, want probes.Tri) cond {
	return func(f probes.Facts) bool { return want != probes.Unknown && f.Tri(key) == want }
}

// stringIn holds when the string fact at key is one of values ("" and
// "unknown" are never matched).
func stringIn(key string, values ...string) cond {
	return func(f probes.Facts) bool {
		v := f.String(key)
		if v == "" || v == "unknown" {
			return false
		}
		for _, x := range values {
			if v == x {
				return true
			}
		}
		return false
	}
}

func allOf(cs ...cond) cond {
	return func(f probes.Facts) bool {
		for _, c := range cs {
			if !c(f) {
				return false
			}
		}
		return true
	}
}

func anyOf(cs ...cond) cond {
	return func(f probes.Facts) bool {
		for _, c := range cs {
			if c(f) {
				return true
			}
		}
		return false
	}
}

// triAnd combines tri-state answers: no when any is no, yes when all are
// yes, unknown otherwise.
func triAnd(ts ...probes.Tri) probes.Tri {
	res := probes.Yes
	for _, t := range ts {
		switch t {
		case probes.No:
			return probes.No
		case probes.Unknown:
			res = probes.Unknown
		}
	}
	return res
}

// triIsFn holds when a derived tri-state answer is known and equals want.
func triIsFn(fn func(probes.Facts) probes.Tri, want probes.Tri) cond {
	return func(f probes.Facts) bool { return want != probes.Unknown && fn(f) == want }
}

// kernelBelow holds when kernel.release parses and is older than maj.min.
func kernelBelow(maj, min int) cond {
	return func(f probes.Facts) bool {
		a, b, ok := kernel.MajorMinor(f.String("kernel.release"))
		return ok && (a < maj || a == maj && b < min)
	}
}

// belowPct holds when the free/size pair of facts is known and free is
// below pct percent of size.
func belowPct(freeKey, sizeKey string, pct int64) cond {
	return func(f probes.Facts) bool {
		free, ok1 := f.Int(freeKey)
		size, ok2 := f.Int(sizeKey)
		// In float64: gVisor reports sizes near 2^63, which overflow free*100.
		return ok1 && ok2 && size > 0 && free >= 0 && float64(free)*100 < float64(size)*float64(pct)
	}
}

// dataDirOn9p: the data dir would be on gVisor's 9p gofer filesystem.
var dataDirOn9p = anyOf(stringIn("fs.datadir.type", "9p"), stringIn("fs.datadir.fstype_statfs", "9p"))

// overlayUsable says whether containerd's overlayfs snapshotter can work
// on the filesystem the data dir will be on (a tmpfs when R-DATADIR-9P
// moves it): overlay mounts there, the filesystem fills d_type, and layer
// unpacking can create whiteouts (mknod c 0 0).
func overlayUsable(f probes.Facts) probes.Tri {
	if dataDirOn9p(f) {
		return triAnd(f.Tri("overlay.mount_tmpfs"), f.Tri("dev.mknod_whiteout"))
	}
	return triAnd(f.Tri("overlay.mount_datadir"), f.Tri("fs.datadir.dtype"), f.Tri("dev.mknod_whiteout"))
}

// fuseUsable says whether the fuse-overlayfs snapshotter can work: /dev/fuse
// opens and the fuse-overlayfs binary is on PATH.
func fuseUsable(f probes.Facts) probes.Tri {
	return triAnd(f.Tri("dev.fuse"), f.Tri("overlay.fuse_overlayfs"))
}

// fuseNotProven holds when fuse-overlayfs is not known to work: the
// native snapshotter, which always works, is then the safe fallback.
func fuseNotProven(f probes.Facts) bool { return fuseUsable(f) != probes.Yes }

// kubeletSysctlReadOnly holds when a tunable the kubelet reads at start-up
// is known to be absent or not writable.
func kubeletSysctlReadOnly(f probes.Facts) bool {
	for _, t := range sysctls.KubeletTunables {
		if f.Tri("sysctl."+t.Name+".present") == probes.No {
			return true
		}
		switch f.String("sysctl." + t.Name) {
		case sysctls.Readonly, sysctls.Absent:
			return true
		}
	}
	return false
}

// sysctlsNeedFaking holds when a tunable is known to stop a component
// whatever flags it gets: one the kubelet reads is absent (the read
// fails), or read-only with a value other than the kubelet's outside a
// user namespace (inside one, KubeletInUserNamespace skips the write); or
// kernel.cap_last_cap, which runc reads to build every container, is
// absent (gVisor).
func sysctlsNeedFaking(f probes.Facts) bool {
	if f.Tri("sysctl.kernel.cap_last_cap.present") == probes.No {
		return true
	}
	for _, t := range sysctls.KubeletTunables {
		if f.Tri("sysctl."+t.Name+".present") == probes.No || f.String("sysctl."+t.Name) == sysctls.Absent {
			return true
		}
		if f.String("sysctl."+t.Name) != sysctls.Readonly || f.Tri("priv.userns") != probes.No {
			continue
		}
		if n, err := sysctls.ParseInt(f.String("sysctl." + t.Name + ".value")); err == nil && n != t.Want {
			return true
		}
	}
	return false
}

// noCgroupNamespace: the kernel has no cgroup namespaces, so runc refuses
// a spec that asks for one ("cgroup namespaces aren't enabled in the
// kernel"): gVisor (no /proc/self/ns/cgroup) and Linux before 4.6.
var noCgroupNamespace = anyOf(triIs("kernel.emulated", probes.Yes), kernelBelow(4, 6))

// userNamespaceRoot: a new user namespace can be made, root mapped in it
// and a mount namespace created inside: the node agent's "userns"
// isolation (user + mount namespaces, the image root as / inside).
var userNamespaceRoot = allOf(triIs("ns.user_map_root", probes.Yes), triIs("ns.userns_mount", probes.Yes))

// noUserNamespaceRoot: one of the three is known to fail.
var noUserNamespaceRoot = anyOf(triIs("ns.user", probes.No), triIs("ns.user_map_root", probes.No), triIs("ns.userns_mount", probes.No))

// userNamespaceUnmapped: a user namespace can be made but root not mapped
// in it (no CAP_SETFCAP and only root mapped, as runc --rootless gives).
// Its process still holds every capability in it, so it can make a mount
// namespace and chroot there, as the overflow uid.
var userNamespaceUnmapped = allOf(triIs("ns.user", probes.Yes), triIs("ns.user_map_root", probes.No))

// hasCap holds when the effective capability list (priv.caps, by
// moby/sys/capability name) is known and names c; lacksCap when it is
// known and does not.
func hasCap(c string) cond {
	return func(f probes.Facts) bool {
		_, known := f["priv.caps"]
		return known && slices.Contains(f.List("priv.caps"), c)
	}
}

func lacksCap(c string) cond {
	return func(f probes.Facts) bool {
		_, known := f["priv.caps"]
		return known && !slices.Contains(f.List("priv.caps"), c)
	}
}

func layoutIs(values ...string) cond { return stringIn("cgroups.layout", values...) }

func set(c Component, name, value string) Setting {
	return Setting{Component: c, Name: name, Value: value}
}

func shim(name string) Shim { return Shim{Name: name} }

// Rules is the adaptation table. Order matters only when two rules set
// the same key: the later one wins. The rung rules (R-T2-..., R-T3-...)
// come last so that they have the last word.
//
// Engine notes. Settings are engine-neutral; where k3s already makes the
// same adaptation by itself (prior-art.md §2.1) the rule is still listed,
// because the upstream engine needs it and the value agrees with k3s's:
//   - kube-proxy conntrack settings: k3s always passes them.
//   - containerd enable_unprivileged_ports/icmp: k3s's template gates them
//     on kernel >= 4.11 itself.
//   - containerd restrict_oom_score_adj and disable_apparmor in a user
//     namespace, disable_cgroup in a user namespace without delegation:
//     k3s's template sets them itself.
//
// A containerd key in a k3s plan makes the k3s renderer write a full
// containerd template; its values then match k3s's own.
var Rules = []Rule{
	// --- where the data lives ---------------------------------------
	{
		Code:  "R-DATADIR-9P",
		When:  dataDirOn9p,
		Rungs: rungsRunning,
		Settings: []Setting{
			set(Cluster, "data-dir", TmpfsDataDir),
		},
		Shims:     []Shim{shim(ShimTmpfsDataDir)},
		Rationale: "the data dir would be on 9p, which serves neither overlayfs, nor cAdvisor, nor the datastore's locking: move it to a tmpfs",
		Source:    "prior-art.md §2.2 Filesystems (9p) and gVisor start-dockerd.sh (tmpfs upper); probe finding KP-FS-003",
	},

	// --- snapshotter (at most one fires; none leaves the default, overlayfs)
	{
		Code:  "R-SNAP-OVERLAYFS",
		When:  triIsFn(overlayUsable, probes.Yes),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Cluster, "snapshotter", "overlayfs"),
		},
		Rationale: "overlay mounts on the data dir's filesystem and whiteouts can be created: the default overlayfs snapshotter works",
		Source:    "k3s-io/docs flag cookbook (prior-art.md §2.4); overlay and devices.mknod probes",
	},
	{
		// The upstream engine's containerd (Debian 1.6) has no built-in
		// fuse-overlayfs snapshotter: it needs the containerd-fuse-overlayfs
		// proxy plugin, which the upstream renderer does not configure.
		Code:  "R-SNAP-FUSE",
		When:  allOf(triIsFn(overlayUsable, probes.No), triIsFn(fuseUsable, probes.Yes)),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Cluster, "snapshotter", "fuse-overlayfs"),
		},
		Rationale: "overlay cannot be used on the data dir (\"overlayfs snapshotter cannot be enabled\"), but /dev/fuse opens and fuse-overlayfs is installed",
		Source:    "prior-art.md §2.3 #17/#18, k3s PR #2595, gitpod#4889",
	},
	{
		Code:  "R-SNAP-NATIVE",
		When:  allOf(triIsFn(overlayUsable, probes.No), fuseNotProven),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Cluster, "snapshotter", "native"),
		},
		Rationale: "overlay cannot be used on the data dir and fuse-overlayfs is not known to work (no /dev/fuse or no binary): the native snapshotter always works, at a cost in disk and unpack time",
		Source:    "prior-art.md §2.3 #17/#19, k3s#3266, claude-code-on-the-web findings",
	},

	// --- pod network (flannel for k3s; upstream always uses the bridge CNI)
	//
	// The upstream renderer reads none of these: it always writes a bridge
	// CNI config (bridge + host-local + portmap), which is what flannel
	// delegates to on a single node anyway. flannel-backend=none is the
	// signal it can read for "no overlay network and no masquerading".
	{
		Code:  "R-FLANNEL-VXLAN",
		When:  triIs("net.vxlan", probes.Yes),
		Rungs: rungsNetworked,
		Settings: []Setting{
			set(Cluster, "flannel-backend", "vxlan"),
		},
		Rationale: "a vxlan link (VNI 1, port 8472) can be created: flannel's default backend works",
		Source:    "k3s-io/docs networking (flannel backends); network.netns probe",
	},
	{
		Code:  "R-FLANNEL-HOSTGW",
		When:  allOf(triIs("net.vxlan", probes.No), triIs("net.veth", probes.Yes), triIs("net.bridge", probes.Yes)),
		Rungs: rungsNetworked,
		Settings: []Setting{
			set(Cluster, "flannel-backend", "host-gw"),
		},
		Rationale: "no vxlan links (\"VXLAN init: operation not supported\"), but veth and bridge links work: host-gw routes pods on a single node",
		Source:    "prior-art.md §2.3 #31, flannel-io/flannel#1747, k3s-io/docs requirements.md",
	},
	{
		Code:  "R-FLANNEL-NONE",
		When:  allOf(triIs("net.vxlan", probes.No), anyOf(triIs("net.veth", probes.No), triIs("net.bridge", probes.No))),
		Rungs: rungsNetworked,
		Settings: []Setting{
			set(Cluster, "flannel-backend", "none"),
		},
		Rationale: "neither vxlan nor veth/bridge links can be created: flannel has no backend that works here",
		Source:    "prior-art.md §2.3 #31, §2.4 flannel backends",
	},

	// --- netfilter: what kube-proxy, flannel and network policy need --
	// An unusable iptables rules out T1 (profiles.Ladder), and T2 drops
	// all three (R-T2-NO-PROXY). These two cover an iptables that works
	// but lacks what the components need (gVisor's legacy tables).
	{
		Code:  "R-IPTABLES-NO-NAT",
		When:  triIs("net.iptables_nat", probes.No),
		Rungs: rungsNetworked,
		Settings: []Setting{
			set(Cluster, "disable-kube-proxy", "true"),
			set(Cluster, "flannel-backend", "none"),
		},
		Rationale: "iptables has no nat table with MASQUERADE: kube-proxy's service rules and flannel's masquerading cannot be installed",
		Source:    "prior-art.md §2.3 #29, google/gvisor#9917, #11327",
	},
	{
		Code: "R-IPTABLES-NO-MATCH",
		When: anyOf(triIs("net.iptables_comment", probes.No), triIs("net.iptables_conntrack", probes.No),
			triIs("net.iptables_addrtype", probes.No), triIs("net.iptables_statistic", probes.No),
			triIs("net.iptables_multiport", probes.No), triIs("net.iptables_mark", probes.No),
			triIs("net.iptables_dnat", probes.No)),
		Rungs: rungsNetworked,
		Settings: []Setting{
			set(Cluster, "disable-kube-proxy", "true"),
			set(Cluster, "disable-network-policy", "true"),
		},
		Rationale: "iptables lacks a match or target kube-proxy and the network policy controller write (comment, conntrack, addrtype, statistic, multiport, MARK, DNAT)",
		Source:    "prior-art.md §2.3 #30, gvisor#10546, gvisor#14637, smol-machines/smolvm#906",
	},
	{
		// k3s always passes these three to kube-proxy; the upstream engine
		// sets maxPerCore: 0 in its kube-proxy config and needs the rest.
		Code: "R-CONNTRACK-RO",
		When: stringIn("sysctl.net.netfilter.nf_conntrack_max", sysctls.Readonly, sysctls.Absent),
		// Only where kube-proxy runs.
		Rungs: rungsNetworked,
		Settings: []Setting{
			set(KubeProxy, "conntrack-max-per-core", "0"),
			set(KubeProxy, "conntrack-tcp-timeout-established", "0s"),
			set(KubeProxy, "conntrack-tcp-timeout-close-wait", "0s"),
		},
		Rationale: "nf_conntrack_max cannot be written here: kube-proxy must leave the conntrack sysctls alone or it exits (\"open /proc/sys/net/netfilter/nf_conntrack_max: permission denied\")",
		Source:    "prior-art.md §2.3 #4/#5, k3s agent_linux.go kubeProxyArgs, k3d FAQ, kubernetes#141943",
	},

	// --- user namespaces ---------------------------------------------
	{
		// The only rule that sets kubelet feature-gates: Build keeps the
		// last value of a key, so a second gate must be added here, comma
		// separated, not in another rule (TestFeatureGatesHaveOneOwner).
		// k3s adds this gate itself only with --rootless.
		Code:  "R-USERNS-KUBELET",
		When:  triIs("priv.userns", probes.Yes),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Kubelet, "feature-gates", "KubeletInUserNamespace=true"),
		},
		Rationale: "in a user namespace the kubelet cannot open /dev/kmsg or write kernel tunables; KubeletInUserNamespace makes it ignore those errors",
		Source:    "prior-art.md §2.3 #2/#3, kubernetes/website kubelet-in-userns.md, k3s agent_linux.go createRootlessConfig",
	},
	{
		// k3s's containerd template sets both itself in a user namespace.
		Code:  "R-USERNS-CONTAINERD",
		When:  triIs("priv.userns", probes.Yes),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Containerd, "restrict_oom_score_adj", "true"),
			set(Containerd, "disable_apparmor", "true"),
		},
		Rationale: "in a user namespace CAP_SYS_RESOURCE does not allow lowering oom_score_adj and AppArmor profiles cannot be loaded",
		Source:    "kubernetes/website kubelet-in-userns.md (containerd settings), k3s templates IsRunningInUserNS",
	},

	// --- cgroups -----------------------------------------------------
	{
		Code:  "R-CGROUP-V1",
		When:  layoutIs("v1", "hybrid"),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Kubelet, "fail-cgroupv1", "false"),
		},
		Rationale: "since 1.35 the kubelet refuses cgroup v1 hosts unless failCgroupV1 is false",
		Source:    "research/real-cluster.md failure 2; kubernetes pkg/kubelet/apis/config failCgroupV1",
	},
	{
		// k3s sets disable_cgroup itself only in a user namespace without
		// delegated controllers; a read-only cgroupfs outside one needs it too.
		Code:  "R-CGROUP-RO",
		When:  triIs("cgroups.writable", probes.No),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Kubelet, "cgroups-per-qos", "false"),
			set(Kubelet, "enforce-node-allocatable", ""),
			set(Containerd, "disable_cgroup", "true"),
		},
		Rationale: "no child cgroup can be created here: the kubelet must not build its QoS hierarchy or enforce allocatable, and containerd must not ask for container cgroups",
		Source:    "claude-code-on-the-web exp 12-13 (--cgroups-per-qos=false --enforce-node-allocatable=), k3s agent_linux.go (disable_cgroup)",
	},
	{
		// k3s evacuates the root cgroup itself only when it is PID 1.
		Code:      "R-CGROUP-EVACUATE",
		When:      triIs("cgroups.needs_evacuation", probes.Yes),
		Rungs:     rungsWorker,
		Shims:     []Shim{shim(ShimCgroupEvacuate)},
		Rationale: "processes sit in the cgroup2 root, so no controller can be enabled for children (\"cannot enter cgroupv2 ... in an invalid state\")",
		Source:    "prior-art.md §2.3 #8/#9, k3s#4085, k3d k3d-entrypoint-cgroupv2.sh",
	},

	// --- disk statistics and eviction --------------------------------
	{
		Code:  "R-KUBELET-STATS",
		When:  anyOf(triIs("fs.datadir.kubelet_stats", probes.No), triIs("fs.kubelet.kubelet_stats", probes.No)),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Kubelet, "local-storage-capacity-isolation", "false"),
		},
		Rationale: "cAdvisor cannot stat the kubelet's filesystem (9p, FUSE, btrfs...): \"failed to get rootfs info: unable to find data in memory cache\"",
		Source:    "prior-art.md §2.3 #22, kubernetes#71704, k3s#8404, minikube start_flags.go, claude-code-on-the-web exp 12-13",
	},
	{
		Code: "R-EVICTION-LOWDISK",
		When: anyOf(belowPct("fs.kubelet.free_bytes", "fs.kubelet.size_bytes", nodefsEvictionPct),
			belowPct("fs.datadir.free_bytes", "fs.datadir.size_bytes", imagefsEvictPct)),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Kubelet, "eviction-hard", EvictionHard),
		},
		Rationale: "free space is already below the kubelet's default eviction thresholds (nodefs 10%, imagefs 15%): the node would be tainted DiskPressure at once",
		Source:    "prior-art.md §2.3 #25, kind known-issues, k3d FAQ; probe finding KP-FS-007",
	},
	{
		Code:  "R-EVICTION-STATS",
		When:  anyOf(triIs("fs.datadir.kubelet_stats", probes.No), triIs("fs.kubelet.kubelet_stats", probes.No)),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Kubelet, "eviction-hard", EvictionHard),
			set(Kubelet, "image-gc-high-threshold", ImageGCHighPct),
			set(Kubelet, "image-gc-low-threshold", ImageGCLowPct),
		},
		Rationale: "the disk statistics the kubelet sees are wrong (InvalidDiskCapacity): evict only on a full disk and never garbage-collect images",
		Source:    "prior-art.md §2.3 #24, k3d#1229, k3s#9962, claude-code-on-the-web (image-gc-high-threshold=100)",
	},

	// --- kernel tunables ---------------------------------------------
	{
		Code:  "R-SYSCTL-PROTECT",
		When:  kubeletSysctlReadOnly,
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Kubelet, "protect-kernel-defaults", "false"),
		},
		Rationale: "the kernel tunables the kubelet checks cannot be written here: it must not insist on them (protect-kernel-defaults fails on any difference)",
		Source:    "prior-art.md §2.3 #3, kubernetes#117846, claude-code-on-the-web (--protect-kernel-defaults=false)",
	},
	{
		Code:      "R-SYSCTL-FAKE",
		When:      sysctlsNeedFaking,
		Rungs:     rungsWorker,
		Shims:     []Shim{shim(ShimFakeSysctls)},
		Rationale: "a tunable the kubelet reads is absent, or read-only with another value outside a user namespace, or runc's kernel.cap_last_cap is absent: no flag skips them, so fake files carry the expected values",
		Source:    "prior-art.md §2.3 #3/#34, canonical/lxd#6013 (stgraber), claude-code-on-the-web ptrace /proc/sys redirect; probe finding KP-SYS-001",
	},

	// --- containerd and runc -----------------------------------------
	{
		Code:  "R-UNPRIV-PORT-SYSCTL",
		When:  triIs("sysctl.net.ipv4.ip_unprivileged_port_start.present", probes.No),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Containerd, "enable_unprivileged_ports", "false"),
			set(Containerd, "enable_unprivileged_icmp", "false"),
		},
		Rationale: "net.ipv4.ip_unprivileged_port_start does not exist, so runc cannot apply the sysctl containerd adds to every pod for unprivileged ports",
		Source:    "prior-art.md §2.3 #37 (inferred fix), opencontainers/runc#4972",
	},
	{
		// k3s's template already gates these on kernel >= 4.11.
		Code:  "R-KERNEL-411",
		When:  kernelBelow(4, 11),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Containerd, "enable_unprivileged_ports", "false"),
			set(Containerd, "enable_unprivileged_icmp", "false"),
		},
		Rationale: "the kernel reports a release below 4.11 (gVisor says 4.4.0): containerd refuses unprivileged ports and ICMP there (\"require kernel version greater than or equal to 4.11\")",
		Source:    "prior-art.md §2.3 #33, k3s config.toml.tmpl EnableUnprivileged, claude-code-on-the-web exp 27/31/32",
	},
	{
		Code:  "R-OOM-SCORE",
		When:  triIs("priv.cap_sys_resource", probes.No),
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Containerd, "restrict_oom_score_adj", "true"),
		},
		Rationale: "without CAP_SYS_RESOURCE runc cannot set the sandbox's oom_score_adj -998 (\"can't get final child's PID from pipe: EOF\"); containerd then clamps it",
		Source:    "research/real-cluster.md failure 1",
	},
	{
		Code:  "R-RUNTIME-WRAPPER",
		When:  noCgroupNamespace,
		Rungs: rungsWorker,
		Shims: []Shim{shim(ShimRuntimeWrapper)},
		Rationale: "the kernel has no cgroup namespaces (gVisor, Linux < 4.6) and runc refuses a spec that asks for one: " +
			"a wrapper drops it (and oomScoreAdj) from every container spec",
		Source: "prior-art.md §2.3 #35, claude-code-on-the-web exp 17/26, gvisor#11989; sandbox-zoo.md Task 4",
	},
	{
		Code:  "R-USERNS-WRAPPER",
		When:  triIs("priv.userns", probes.Yes),
		Rungs: rungsWorker,
		Shims: []Shim{shim(ShimRuntimeWrapper)},
		Rationale: "in a user namespace that maps few ids, runc mounts devpts with gid=5 and gets EINVAL " +
			"(\"error mounting devpts to rootfs at /dev/pts ... invalid argument\"); the wrapper drops an unmapped gid",
		Source: "measured in the zoo's userns-root sandbox (research/zoo.md); runc libcontainer/rootfs_linux.go",
	},
	{
		Code:  "R-SWAP",
		When:  func(f probes.Facts) bool { n, ok := f.Int("res.swap_bytes"); return ok && n > 0 },
		Rungs: rungsWorker,
		Settings: []Setting{
			set(Kubelet, "fail-swap-on", "false"),
		},
		Rationale: "the kubelet refuses to start with swap on unless failSwapOn is false",
		Source:    "kubernetes KubeletConfiguration failSwapOn",
	},

	// --- shims for the kubelet ---------------------------------------
	{
		Code:      "R-KMSG",
		When:      triIs("dev.kmsg_readable", probes.No),
		Rungs:     rungsWorker,
		Shims:     []Shim{shim(ShimKmsg)},
		Rationale: "/dev/kmsg cannot be opened and the kubelet's OOM watcher needs it (\"open /dev/kmsg: no such file or directory\")",
		Source:    "prior-art.md §2.3 #1, kind PR#664, k0s#744, claude-code-on-the-web",
	},
	{
		Code:      "R-RSHARED",
		When:      allOf(stringIn("mount.root_propagation", "private", "slave"), triIs("mount.rshared_possible", probes.Yes)),
		Rungs:     rungsWorker,
		Shims:     []Shim{shim(ShimRshared)},
		Rationale: "/ is not a shared mount, so mount propagation into pods fails (\"is not a shared mount\"); it can be made rshared in a mount namespace of our own",
		Source:    "prior-art.md §2.3 #26, kind fix_mount, k3d K3D_FIX_MOUNTS, k3s#1846",
	},

	// --- rungs of the ladder (last: they override the fact rules) -----
	{
		Code:  "R-T2-NO-PROXY",
		Rungs: []profiles.Rung{profiles.T2},
		Settings: []Setting{
			set(Cluster, "disable-kube-proxy", "true"),
			set(Cluster, "disable-network-policy", "true"),
			set(Cluster, "flannel-backend", "none"),
		},
		Rationale: "T2 runs the worker without kube-proxy, network policy or flannel (no usable iptables)",
		Source:    "research prior-art.md §0 fallback ladder",
	},
	{
		// No kubelet, containerd, runc, CNI or kube-proxy: kprobe's node
		// agent (kprobe node-agent, adapters/upstream) registers the node
		// and runs each container as a process of the sandbox.
		Code:  "R-TP-PROCESS-PODS",
		Rungs: []profiles.Rung{profiles.TP},
		Settings: []Setting{
			set(Cluster, "disable-agent", "true"),
			set(Cluster, "disable-kube-proxy", "true"),
			set(Cluster, "flannel-backend", "none"),
		},
		Rationale: "TP runs no kubelet, containerd, runc, CNI or kube-proxy: kprobe's node agent runs each pod's containers as processes of the sandbox, on the host network, with no isolation between pods and the sandbox; its own Service proxy serves each ClusterIP on a loopback address",
		Source:    "issue #13; shared/research/process-pods.md; prior art virtual-kubelet/systemk",
	},
	{
		// Every pod is a process on the sandbox's one network: there is
		// no per-pod interface or netfilter hook to filter on.
		Code:  "R-TP-NO-NETWORK-POLICY",
		Rungs: []profiles.Rung{profiles.TP},
		Settings: []Setting{
			set(Cluster, "disable-network-policy", "true"),
		},
		Rationale: "TP cannot enforce NetworkPolicy: process pods share the sandbox's network namespace and ports (no veth, no iptables, no CAP_NET_ADMIN), so a policy object is accepted by the API and has no effect",
		Source:    "issue #14; research/networking.md",
	},
	// How the node agent gives a container its image root; the last that
	// holds wins: a user namespace, else chroot, else none (said plainly).
	{
		Code:  "R-TP-ISOLATION-AUTO",
		Rungs: []profiles.Rung{profiles.TP},
		Settings: []Setting{
			set(NodeAgent, "isolation", "auto"),
		},
		Rationale: "the facts do not tell whether a user namespace or chroot works here: the node agent tries a user namespace, then chroot, when it starts",
		Source:    "shared/research/process-pods.md",
	},
	{
		Code:  "R-TP-ISOLATION-NONE",
		When:  allOf(noUserNamespaceRoot, lacksCap("sys_chroot"), triIs("ns.user", probes.No)),
		Rungs: []profiles.Rung{profiles.TP},
		Settings: []Setting{
			set(NodeAgent, "isolation", "none"),
		},
		Rationale: "no user namespace and no CAP_SYS_CHROOT: a container cannot get its image as /, so only images whose program is a static binary run (their files resolved under the image root, no root change)",
		Source:    "shared/research/process-pods.md",
	},
	{
		Code:  "R-TP-ISOLATION-USERNS-UNMAPPED",
		When:  allOf(userNamespaceUnmapped, lacksCap("sys_chroot")),
		Rungs: []profiles.Rung{profiles.TP},
		Settings: []Setting{
			set(NodeAgent, "isolation", "userns"),
		},
		Rationale: "no CAP_SYS_CHROOT, and a user namespace can be made but root not mapped in it (no CAP_SETFCAP): each container runs in one without a uid map, as uid 65534 with the namespace's capabilities, its image root as / and volumes bind-mounted; runAsUser cannot be honoured",
		Source:    "research/launches/runc-rootless.md (chroot EPERM, uid_map write EPERM, mount namespace and chroot inside an unmapped user namespace work)",
	},
	{
		Code:  "R-TP-ISOLATION-CHROOT",
		When:  hasCap("sys_chroot"),
		Rungs: []profiles.Rung{profiles.TP},
		Settings: []Setting{
			set(NodeAgent, "isolation", "chroot"),
		},
		Rationale: "CAP_SYS_CHROOT is effective: each container runs chrooted into its image root (no user or mount namespace)",
		Source:    "shared/research/process-pods.md (runc-docker: chroot works, unshare EPERM under seccomp)",
	},
	{
		Code:  "R-TP-ISOLATION-USERNS",
		When:  userNamespaceRoot,
		Rungs: []profiles.Rung{profiles.TP},
		Settings: []Setting{
			set(NodeAgent, "isolation", "userns"),
		},
		Rationale: "a user namespace with root mapped and a mount namespace inside it can be created: each container gets its image root as / there, without privilege",
		Source:    "shared/research/process-pods.md (gvisor-run, podman, bwrap, userns-user); namespaces probe ns.user_map_root, ns.userns_mount",
	},
	{
		// The packaged components would only sit Pending without a node,
		// and an unavailable metrics-server APIService makes every kubectl
		// call print a discovery error.
		Code:  "R-T3-AGENTLESS",
		Rungs: []profiles.Rung{profiles.T3},
		Settings: []Setting{
			set(Cluster, "disable-agent", "true"),
			set(Cluster, "disable-kube-proxy", "true"),
			set(Cluster, "disable-network-policy", "true"),
			set(Cluster, "flannel-backend", "none"),
			set(Cluster, "disable", "coredns,servicelb,traefik,local-storage,metrics-server"),
		},
		Rationale: "T3 runs the control plane only: no container can start here, kubectl and helm --dry-run=server still work",
		Source:    "k3s-io/docs advanced.md, Agentless servers; prior-art.md §2.4; claude-code-on-the-web (--disable=...)",
	},
}
