package signatures

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

// spec is a row of the table as written: patterns as text, compiled by
// compile.
type spec struct {
	code      string
	component Component
	also      []Component
	pattern   string
	unless    string
	diagnosis string
	fix       string
	source    string
	action    Action
	shadows   []string
}

func set(c adapters.Component, name, value string) adapters.Setting {
	return adapters.Setting{Component: c, Name: name, Value: value}
}

func shim(name string) adapters.Shim { return adapters.Shim{Name: name} }

func remedy(atMost profiles.Rung, settings []adapters.Setting, shims ...adapters.Shim) Action {
	return Action{Kind: Remedy, Settings: settings, Shims: shims, AtMost: atMost}
}

func stepDown(atMost profiles.Rung, needs string) Action {
	return Action{Kind: StepDown, AtMost: atMost, Needs: needs}
}

func fatal(needs string) Action { return Action{Kind: Fatal, Needs: needs} }

var advisory = Action{Kind: Advisory}

// Remedies used by several rows.
var (
	userNSGate     = []adapters.Setting{set(adapters.Kubelet, "feature-gates", "KubeletInUserNamespace=true")}
	nativeSnap     = []adapters.Setting{set(adapters.Cluster, "snapshotter", "native")}
	noStorageIsol  = []adapters.Setting{set(adapters.Kubelet, "local-storage-capacity-isolation", "false")}
	restrictOOM    = []adapters.Setting{set(adapters.Containerd, "restrict_oom_score_adj", "true")}
	noUnprivileged = []adapters.Setting{
		set(adapters.Containerd, "enable_unprivileged_ports", "false"),
		set(adapters.Containerd, "enable_unprivileged_icmp", "false"),
	}
	cgroupsReadOnly = []adapters.Setting{
		set(adapters.Kubelet, "cgroups-per-qos", "false"),
		set(adapters.Kubelet, "enforce-node-allocatable", ""),
		set(adapters.Containerd, "disable_cgroup", "true"),
	}
	lowEviction = []adapters.Setting{set(adapters.Kubelet, "eviction-hard", adapters.EvictionHard)}
)

// kubeletNetNoise are the kubelet's own iptables canaries: their failure is
// logged and ignored, so iptables errors in them say nothing about
// kube-proxy (k3s's log holds both).
const kubeletNetNoise = `iptables hint chain|Failed to initialize iptables rules|KUBE-KUBELET-CANARY|KUBE-IPTABLES-HINT|KUBE-FIREWALL|kubelet_network_linux\.go`

const (
	needsWorker = "a worker needs the kernel features this failure lacks; without them kprobe runs pods as processes (TP) or the control plane only (T3)"
	needsCgroup = "cgroups the runtime can use: cgroup v2 with delegated controllers (systemd Delegate=yes, docker --cgroupns=private with a writable cgroupfs), or a VM"
)

// specs is the table as written. Order is precedence: Match returns the
// first row that fires, and a row listing codes in shadows comes before
// them.
var specs = []spec{
	// ---- /dev/kmsg -----------------------------------------------------
	{
		code: "SIG-KMSG-USERNS", component: Kubelet,
		pattern:   `Failed to create an oomWatcher \(running in UserNS, Hint: enable KubeletInUserNamespace`,
		diagnosis: "The kubelet runs in a user namespace and may not read /dev/kmsg, so its OOM watcher cannot start.",
		fix:       "kprobe launch sets the kubelet's KubeletInUserNamespace feature gate itself in a user namespace and retries",
		source:    "prior-art.md §2.3 #2 (NVIDIA/OpenShell#457, usernetes#204)",
		action:    remedy(profiles.TP, userNSGate),
		shadows:   []string{"SIG-KMSG-EPERM"},
	},
	{
		code: "SIG-KMSG-ENOENT", component: Kubelet,
		pattern:   `open /dev/kmsg: no such file or directory`,
		diagnosis: "The sandbox has no /dev/kmsg; the kubelet's OOM watcher needs it and the kubelet exits.",
		fix:       "kprobe's kmsg shim binds /dev/null over /dev/kmsg in a private mount namespace; by hand: touch /dev/kmsg && mount --bind /dev/null /dev/kmsg (or ln -s /dev/console /dev/kmsg), or pass the device (docker run --device /dev/kmsg)",
		source:    "prior-art.md §2.3 #1 (kind#662, kind PR#664, k0s#744, gitpod#4889)",
		action:    remedy(profiles.TP, nil, shim(adapters.ShimKmsg)),
	},
	{
		code: "SIG-KMSG-EPERM", component: Kubelet,
		pattern:   `open /dev/kmsg: (operation not permitted|permission denied)`,
		unless:    `running in UserNS, ignoring`,
		diagnosis: "/dev/kmsg exists but the kubelet may not open it (a device cgroup or LSM denies it), so its OOM watcher cannot start.",
		fix:       "kprobe's kmsg shim binds /dev/null over /dev/kmsg in a private mount namespace; LXC: lxc.mount.entry = /dev/kmsg dev/kmsg none defaults,bind,create=file",
		source:    "prior-art.md §2.3 #2 and §2.2 LXC (k0s#744, canonical/lxd#6013); sandbox-zoo.md (/dev/kmsg EPERM in userns sandboxes)",
		action:    remedy(profiles.TP, nil, shim(adapters.ShimKmsg)),
	},

	// ---- sysctls -------------------------------------------------------
	{
		code: "SIG-SYSCTL-USERNS", component: Kubelet,
		pattern:   `Updating kernel flag failed \(Hint: enable KubeletInUserNamespace`,
		diagnosis: "The kubelet runs in a user namespace and cannot write its kernel tunables (vm.overcommit_memory, kernel.panic...).",
		fix:       "kprobe launch sets the kubelet's KubeletInUserNamespace feature gate itself in a user namespace and retries",
		source:    "kubelet v1.37.2 (pkg/kubelet/cm/container_manager_linux.go setupKernelTunables); prior-art.md §2.3 #3 fix",
		action:    remedy(profiles.TP, userNSGate),
		shadows:   []string{"SIG-SYSCTL-TUNABLES"},
	},
	{
		code: "SIG-SYSCTL-TUNABLES", component: Kubelet,
		pattern:   `(open|write) /proc/sys/(vm/(overcommit_memory|panic_on_oom)|kernel/(panic_on_oops|panic|keys/root_maxkeys|keys/root_maxbytes)): (read-only file system|permission denied|operation not permitted|no such file or directory|input/output error)`,
		unless:    `running in UserNS, ignoring`,
		diagnosis: "The kubelet cannot set its kernel tunables (vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops, kernel.keys.*): /proc/sys is read-only or the entries are missing, and the container manager does not start.",
		fix:       "kprobe's fake-sysctls shim binds files with the kubelet's values over them; by hand, on the host: sysctl -w vm.overcommit_memory=1 vm.panic_on_oom=0 kernel.panic=10 kernel.panic_on_oops=1; in a user namespace kprobe launch sets the kubelet's KubeletInUserNamespace feature gate itself",
		source:    "prior-art.md §2.3 #3 (k3s#1378, jailmaker#44, kubernetes#117846, canonical/lxd#6013); sandbox-zoo.md (gVisor: EIO on vm.overcommit_memory, kernel.panic absent)",
		action:    remedy(profiles.TP, nil, shim(adapters.ShimFakeSysctls)),
	},
	{
		code: "SIG-PROTECT-KERNEL-DEFAULTS", component: Kubelet,
		pattern:   `invalid kernel flag: [a-z_/.]+, expected value: -?\d+, actual value: -?\d+`,
		diagnosis: "The kubelet runs with --protect-kernel-defaults and the kernel tunables differ from what it wants, so it refuses to start instead of setting them.",
		fix:       "kprobe launch sets the kubelet's protectKernelDefaults: false itself and retries (or set the values on the host: sysctl -w vm.overcommit_memory=1 kernel.panic=10 kernel.panic_on_oops=1)",
		source:    "kubelet v1.37.2 (pkg/kubelet/cm/container_manager_linux.go setupKernelTunables); prior-art.md §2.4 protect-kernel-defaults=false",
		action:    remedy(profiles.TP, []adapters.Setting{set(adapters.Kubelet, "protect-kernel-defaults", "false")}),
	},
	{
		code: "SIG-CAP-LAST-CAP", component: Runc,
		pattern:   `open /proc/sys/kernel/cap_last_cap: no such file or directory`,
		diagnosis: "runc reads /proc/sys/kernel/cap_last_cap to set up capabilities and the sandbox (gVisor) has no such file, so no container starts.",
		fix:       "kprobe's fake-sysctls shim provides /proc/sys/kernel/cap_last_cap (the highest capability of the bounding set: 37 in runsc do, 40 on a Linux 5.9+ host); otherwise a runc patched to fall back to it",
		source:    "prior-art.md §2.3 #34 (claude-code-on-the-web exp 27)",
		action:    remedy(profiles.TP, nil, shim(adapters.ShimFakeSysctls)),
	},

	// ---- kube-proxy ----------------------------------------------------
	{
		code: "SIG-CONNTRACK-MAX", component: KubeProxy,
		pattern:   `/proc/sys/net/netfilter/nf_conntrack_max: (permission denied|read-only file system|operation not permitted|no such file or directory)`,
		diagnosis: "kube-proxy cannot write net.netfilter.nf_conntrack_max: the sysctl is read-only in this network namespace (containers, LXC, kernels >= 5.12.2) or absent (gVisor).",
		fix:       "kprobe launch sets kube-proxy's conntrack.maxPerCore: 0 itself and retries; k8s 1.36 regressed here, so kprobe drops kube-proxy (T2) if it still fails",
		source:    "prior-art.md §2.3 #4 (k3d FAQ, k3s agent_linux.go, microk8s PR#2777, kubernetes#141943)",
		action:    remedy(profiles.T2, []adapters.Setting{set(adapters.KubeProxy, "conntrack-max-per-core", "0")}),
	},
	{
		code: "SIG-CONNTRACK-TIMEOUT", component: KubeProxy,
		pattern:   `nf_conntrack_tcp_timeout_(established|close_wait)"?: (read-only file system|permission denied|operation not permitted)`,
		diagnosis: "kube-proxy cannot write the conntrack TCP timeouts: the sysctls are read-only in this container (LXD).",
		fix:       "kprobe launch sets kube-proxy's conntrack tcpEstablishedTimeout and tcpCloseWaitTimeout to 0s itself and retries",
		source:    "prior-art.md §2.3 #5 (lxc/lxc#3627)",
		action: remedy(profiles.T2, []adapters.Setting{
			set(adapters.KubeProxy, "conntrack-tcp-timeout-established", "0s"),
			set(adapters.KubeProxy, "conntrack-tcp-timeout-close-wait", "0s"),
		}),
	},
	{
		code: "SIG-ROUTE-LOCALNET", component: KubeProxy,
		pattern:   `can't set sysctl net/ipv4/conf/all/route_localnet`,
		diagnosis: "kube-proxy cannot set net.ipv4.conf.all.route_localnet (needed for NodePorts on localhost) because /proc/sys is read-only.",
		fix:       "kprobe launch sets kube-proxy's iptables.localhostNodePorts: false itself (no NodePorts on 127.0.0.1) and retries; otherwise it runs without kube-proxy (T2)",
		source:    "prior-art.md §2.3 #6 (k3s#89); kube-proxy v1.37.2 (\"to change this either disable iptables.localhostNodePorts (--iptables-localhost-nodeports)\")",
		action:    remedy(profiles.T2, []adapters.Setting{set(adapters.KubeProxy, "iptables-localhost-nodeports", "false")}),
	},
	{
		code: "SIG-BRIDGE-NF", component: Any,
		pattern:   `/proc/sys/net/bridge/bridge-nf-call-ip6?tables: no such file or directory|bridge-nf-call-ip6?tables is disabled`,
		diagnosis: "br_netfilter is not loaded in this network namespace, so bridged pod traffic bypasses iptables; a single node works, Service traffic between pods on one bridge may not.",
		fix:       "on the host: modprobe br_netfilter; otherwise accept it on a single node",
		source:    "prior-art.md §2.3 #7 (k3s#89, moby daemon/info_unix.go)",
		action:    advisory,
	},

	// ---- iptables ------------------------------------------------------
	{
		code: "SIG-IPTABLES-NFT", component: KubeProxy, also: []Component{Flannel},
		pattern:   `Failed to initialize nft: Protocol not supported`,
		unless:    kubeletNetNoise,
		diagnosis: "iptables uses the nftables backend and the kernel (gVisor) has no nftables netlink, so kube-proxy, flannel and network policy cannot program rules.",
		fix:       "update-alternatives --set iptables /usr/sbin/iptables-legacy (and ip6tables); under gVisor run runsc with --net-raw; otherwise kprobe launch runs the worker without kube-proxy and network policy (T2)",
		source:    "prior-art.md §2.3 #28 (google/gvisor#9917, #11778, OpenSandbox#934); sandbox-zoo.md",
		action:    stepDown(profiles.T2, "an nftables-capable kernel, or iptables-legacy with the nat table (runsc --net-raw)"),
		shadows:   []string{"SIG-IPTABLES-NO-TABLE"},
	},
	{
		code: "SIG-IPTABLES-NO-TABLE", component: KubeProxy, also: []Component{Flannel},
		pattern:   `can't initialize iptables table .(nat|filter|mangle|raw).: Table does not exist`,
		unless:    kubeletNetNoise,
		diagnosis: "iptables has no nat (or filter) table here: gVisor without --net-raw, or a kernel without iptable_nat; kube-proxy and flannel cannot work.",
		fix:       "run runsc with --net-raw, or load iptable_nat on the host; otherwise kprobe launch runs the worker without kube-proxy and network policy (T2)",
		source:    "prior-art.md §2.3 #29 (gvisor#9917, #11327); sandbox-zoo.md (iptables-legacy has no filter table in gVisor)",
		action:    stepDown(profiles.T2, "iptables nat and filter tables (runsc --net-raw, or the iptable_nat module)"),
	},
	{
		code: "SIG-IPTABLES-EXTENSION", component: KubeProxy, also: []Component{Flannel},
		pattern:   `Extension \S+ revision \d+ not supported, missing kernel module|RULE_INSERT failed \(No such file or directory\)|iptables: Invalid argument\. Run .dmesg. for more information`,
		unless:    kubeletNetNoise,
		diagnosis: "An iptables match kube-proxy needs (comment, conntrack, addrtype) is missing from the kernel (custom VM kernels, gVisor), so its rules cannot be installed.",
		fix:       "a kernel with NETFILTER_XT_MATCH_COMMENT, _CONNTRACK and _ADDRTYPE (gVisor needs the #14602-#14604 patches); otherwise kprobe launch runs without kube-proxy (T2)",
		source:    "prior-art.md §2.3 #30 (smol-machines/smolvm#906, gvisor#10546, gvisor#14637)",
		action:    stepDown(profiles.T2, "the xt_comment, xt_conntrack and xt_addrtype iptables matches"),
	},
	{
		code: "SIG-VXLAN", component: Flannel,
		pattern:   `Error registering network: operation not supported|VXLAN init: operation not supported`,
		diagnosis: "flannel cannot create its vxlan link: no vxlan module, or vxlan links are not allowed here.",
		fix:       "on the host: modprobe vxlan; otherwise kprobe launch starts k3s with flannel's host-gw backend (one node) or steps down (the kubernetes engine uses a bridge and no vxlan)",
		source:    "prior-art.md §2.3 #31 (flannel-io/flannel#1747, #441, k3s-io/docs requirements.md)",
		action:    remedy(profiles.T2, []adapters.Setting{set(adapters.Cluster, "flannel-backend", "host-gw")}),
	},

	// ---- cgroups -------------------------------------------------------
	{
		code: "SIG-FAIL-CGROUPV1", component: Kubelet,
		pattern:   `kubelet is configured to not run on a host using cgroup v1`,
		diagnosis: "The kubelet (1.35 and later) refuses cgroup v1 and hybrid hosts by default.",
		fix:       "kprobe launch sets the kubelet's failCgroupV1: false itself and retries; the lasting fix is cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
		source:    "real-cluster.md failure 2; kubelet v1.37.2 (failed to validate kubelet configuration)",
		action:    remedy(profiles.TP, []adapters.Setting{set(adapters.Kubelet, "fail-cgroupv1", "false")}),
	},
	{
		code: "SIG-CGROUPV2-INVALID-STATE", component: Kubelet,
		pattern:   `cannot enter cgroupv2 .{0,200} with domain controllers -- it is in an invalid state`,
		diagnosis: "On cgroup v2 the sandbox's processes sit in the root cgroup, so controllers cannot be enabled for children (the no-internal-process rule) and the kubelet cannot create kubepods.",
		fix:       "kprobe's cgroup-evacuate shim; by hand: mkdir /sys/fs/cgroup/init; xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs; sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control",
		source:    "prior-art.md §2.3 #8 (k3s#4085, k3d assets/k3d-entrypoint-cgroupv2.sh)",
		action:    remedy(profiles.TP, nil, shim(adapters.ShimCgroupEvacuate)),
	},
	{
		code: "SIG-KUBEPODS-CGROUP-RO", component: Kubelet,
		pattern:   `mkdir /sys/fs/cgroup/\S*kubepods\S*: (read-only file system|permission denied)`,
		unless:    `unable to apply cgroup configuration`,
		diagnosis: "The kubelet cannot create its kubepods cgroups: cgroupfs is read-only or not writable by it.",
		fix:       "kprobe launch sets the kubelet's cgroupsPerQOS: false and enforceNodeAllocatable: [] (no QoS cgroups) and containerd's disable_cgroup = true itself and retries",
		source:    "prior-art.md §2.2 gVisor PoC and §2.4 (cgroups-per-qos=false, enforce-node-allocatable=); sandbox-zoo.md (cgroupfs EROFS in docker-like containers, EACCES in userns-user); kubelet v1.37.2 format strings",
		action:    remedy(profiles.TP, cgroupsReadOnly),
	},
	{
		code: "SIG-SUBTREE-BUSY", component: Any,
		pattern:   `write /sys/fs/cgroup/(\S+/)?cgroup\.subtree_control: device or resource busy`,
		diagnosis: "Controllers cannot be enabled in cgroup.subtree_control while processes sit in that cgroup (cgroup v2's no-internal-process rule).",
		fix:       "kprobe's cgroup-evacuate shim; by hand: move every process of /sys/fs/cgroup/cgroup.procs into a child cgroup (mkdir /sys/fs/cgroup/init) first",
		source:    "prior-art.md §2.3 #9 (google/gvisor#8111, EtiennePerot/safe-code-execution#2)",
		action:    remedy(profiles.TP, nil, shim(adapters.ShimCgroupEvacuate)),
	},
	{
		code: "SIG-PIDS-MISSING", component: Kubelet,
		pattern:   `pids cgroup controller not found|Failed to find subsystem mount for required subsystem: pids|missing required cgroups: pids`,
		diagnosis: "The pids cgroup controller is missing or not delegated; the kubelet has required it since 1.20 and no flag turns that off.",
		fix:       "a kernel with CONFIG_CGROUP_PIDS, or delegate pids to the sandbox (the kubelet's cgroups-per-qos=false, which kprobe sets where cgroups are read-only, does not help); otherwise the control plane only",
		source:    "prior-art.md §2.3 #12 (k3s#7023, k3s PR#3978, kubernetes#79046, minikube#11562)",
		action:    stepDown(profiles.TP, "the pids cgroup controller (CONFIG_CGROUP_PIDS, delegated to the sandbox), or a VM"),
	},
	{
		code: "SIG-CGROUP-SUBSYS-NOT-MOUNTED", component: Kubelet,
		pattern:   `Following Cgroup subsystem not mounted: \[`,
		diagnosis: "The cgroup controllers the kubelet needs (cpu, cpuacct, cpuset, memory, pids) are not mounted under /sys/fs/cgroup, as in gVisor, whose /sys/fs/cgroup is empty.",
		fix:       "mount the cgroup v1 hierarchies (mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory, ...) or run on a host with cgroups; otherwise the control plane only",
		source:    "kubelet v1.37.2 (pkg/kubelet/cm/container_manager_linux.go validateSystemRequirements); sandbox-zoo.md §Task 4",
		action:    stepDown(profiles.TP, needsCgroup),
	},
	{
		code: "SIG-NO-SYSFS-CPUS", component: Kubelet,
		pattern:   `could not detect number of cpus`,
		diagnosis: "The kubelet finds no CPUs because the sandbox has no /sys (bubblewrap without --dev-bind /sys, a nested user namespace that may not mount sysfs): cAdvisor reads /sys/devices/system/cpu.",
		fix:       "give the sandbox /sys (bwrap --ro-bind /sys /sys ...); a user namespace cannot mount a fresh sysfs unless one is already visible; otherwise the control plane only",
		source:    "zoo sandbox bwrap with a nested user namespace (research/launches/bwrap-nested-userns.md), kubelet v1.37.2 container_manager_linux.go",
		action:    stepDown(profiles.TP, "a /sys in the sandbox (bwrap --ro-bind /sys /sys)"),
	},
	{
		code: "SIG-CGROUP-STATFS", component: Kubelet,
		pattern:   `(Failed to create cgroup|Failed to start ContainerManager).{0,40}statfs /sys/fs/cgroup/\S*: function not implemented`,
		diagnosis: "The cgroup filesystem does not implement statfs (gVisor's cgroupfs, mounted by hand), so the kubelet cannot create its QoS cgroups.",
		fix:       "kprobe launch sets the kubelet's cgroupsPerQOS: false and enforceNodeAllocatable: [] and containerd's disable_cgroup = true itself and retries",
		source:    "zoo sandbox gvisor-do with cgroup v1 controllers mounted (research/launches/gvisor-do-worker.md); kubelet v1.37.2 node_container_manager_linux.go",
		action:    remedy(profiles.TP, cgroupsReadOnly),
	},
	{
		code: "SIG-KUBELET-VARLIB", component: Kubelet,
		pattern:   `mkdir /var/lib/kubelet(/\S*)?: (permission denied|read-only file system)`,
		diagnosis: "The kubelet keeps its device-plugin checkpoints in /var/lib/kubelet whatever its --root-dir, and this user may not create it (a user namespace made by an unprivileged user sees the host's /var/lib owned by nobody).",
		fix:       "create it for the user first (sudo install -d -o $USER /var/lib/kubelet), or run in a user namespace made by root; otherwise the control plane only",
		source:    "zoo sandbox userns-user (research/launches/userns-user.md); kubelet v1.37.2 pkg/kubelet/cm/devicemanager (pluginapi.DevicePluginPath)",
		action:    stepDown(profiles.TP, "a writable /var/lib/kubelet"),
	},
	{
		code: "SIG-CGROUP-CONTROLLER-MISSING", component: K3s,
		pattern:   `failed to find (memory|cpu) cgroup`,
		diagnosis: "k3s cannot find the memory (or cpu) cgroup controller: disabled on the kernel command line (Raspberry Pi), or hidden by hybrid cgroups (WSL2).",
		fix:       "add cgroup_memory=1 cgroup_enable=memory to the kernel command line (/boot/cmdline.txt on a Raspberry Pi); WSL2: kernelCommandLine = cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 in .wslconfig, then wsl --shutdown",
		source:    "prior-art.md §2.3 #13 (k3s#475, #8971, k3s cgroups_linux.go, spurin/wsl-cgroupsv2)",
		action:    stepDown(profiles.TP, "the memory and cpu cgroup controllers (kernel command line, or cgroup v2 on WSL2)"),
	},
	{
		code: "SIG-CGROUP-ADD-PID", component: Runc,
		pattern:   `error adding pid \d+ to cgroups`,
		diagnosis: "runc cannot put the container's process into its cgroups (hybrid cgroups on WSL2, or a cgroupfs the sandbox may not write).",
		fix:       "WSL2: kernelCommandLine = cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 in .wslconfig, then wsl --shutdown; elsewhere a writable, delegated cgroupfs",
		source:    "prior-art.md §2.3 #14 (kind known-issues.md)",
		action:    stepDown(profiles.TP, needsCgroup),
	},
	{
		code: "SIG-CGROUP-MOUNT-EPERM", component: Runc,
		pattern:   `mounting "cgroup2?" to rootfs at "/sys/fs/cgroup".{0,120}operation not permitted`,
		diagnosis: "runc may not mount cgroupfs inside the container: the sandbox gives no writable cgroup hierarchy (nested Docker in Gitpod-like workspaces).",
		fix:       "the platform must delegate a cgroup v2 subtree to the sandbox (Gitpod PR #8578); it cannot be fixed from inside",
		source:    "prior-art.md §2.3 #15 (gitpod#3860)",
		action:    stepDown(profiles.TP, "a cgroup v2 subtree delegated to the sandbox by the platform"),
	},
	{
		code: "SIG-NO-PROC-CGROUP", component: K3s,
		pattern:   `open /proc/self/cgroup: no such file or directory`,
		diagnosis: "The sandbox has no cgroups at all (/proc/self/cgroup is missing).",
		fix:       "run in a VM or a container with cgroups; kprobe tries the control plane only",
		source:    "prior-art.md §2.3 #16 (k3s#2216)",
		action:    stepDown(profiles.TP, "cgroups (a VM, or a container runtime that provides them)"),
	},
	{
		code: "SIG-ROOTLESS-DELEGATION", component: K3s,
		pattern:   `delegated cgroup v2 controllers are required for rootless`,
		diagnosis: "Rootless k3s needs cgroup v2 controllers delegated to the user, and they are not.",
		fix:       "delegate cgroups to users: mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=yes\\n' >/etc/systemd/system/user@.service.d/delegate.conf; or run kprobe as root",
		source:    "prior-art.md §2.3 #10 (k3s agent_linux.go, k3s-io/docs advanced.md)",
		action:    stepDown(profiles.TP, "cgroup v2 controllers delegated to the user (systemd Delegate=yes)"),
	},
	{
		code: "SIG-ROOTLESS-EVACUATION", component: K3s,
		pattern:   `cannot set cgroup2 evacuation, make sure to run k3s as a systemd unit|Running RootlessKit as the root user is unsupported`,
		diagnosis: "Rootless k3s was started from a shell (it must be a systemd user unit to get its cgroup), or as root.",
		fix:       "run kprobe as root, or as root of a user namespace (unshare --user --map-root-user --mount --pid --fork) with a delegated cgroup",
		source:    "prior-art.md §2.3 #39 (gitpod#4889, k3s-io/docs advanced.md)",
		action:    fatal("a systemd user session with Delegate=yes for rootless k3s, or running as root without --rootless"),
	},
	{
		code: "SIG-ROOTLESSKIT-CHILD", component: K3s,
		pattern:   `failed to start the child: fork/exec /proc/self/exe: operation not permitted`,
		diagnosis: "RootlessKit cannot create its user namespace: the sandbox's seccomp or AppArmor profile forbids it.",
		fix:       "docker run --privileged, or allow user namespaces (Ubuntu 24.04: sysctl kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for rootlesskit)",
		source:    "prior-art.md §2.3 #38 (k3s#1234, #2125, moby dockerd-rootless-setuptool.sh)",
		action:    fatal("user namespaces allowed in the sandbox (docker --privileged, or kernel.apparmor_restrict_unprivileged_userns=0)"),
	},

	// ---- snapshotters and filesystems ------------------------------------
	{
		code: "SIG-OVERLAY-SNAPSHOTTER", component: K3s,
		pattern:   `"overlayfs" snapshotter cannot be enabled for`,
		diagnosis: "containerd's overlayfs snapshotter cannot mount overlay on the data dir (overlay on overlay, NFS, 9p, or a user namespace).",
		fix:       "kprobe launch switches containerd to the native snapshotter itself and retries; or put the data dir on ext4, xfs or tmpfs: kprobe launch --data-dir DIR",
		source:    "prior-art.md §2.3 #17 (k3s#3266, containerd#5464, gitpod#4889, k3s#12673, k3s#19)",
		action:    remedy(profiles.TP, nativeSnap),
	},
	{
		code: "SIG-FUSE-OVERLAYFS", component: K3s,
		pattern:   `"fuse-overlayfs" snapshotter cannot be enabled for`,
		diagnosis: "The fuse-overlayfs snapshotter does not work here: /dev/fuse or the fuse3 userspace (mount.fuse3, fuse-overlayfs) is missing.",
		fix:       "kprobe launch switches containerd to the native snapshotter itself and retries; or install fuse3 and fuse-overlayfs and expose /dev/fuse",
		source:    "prior-art.md §2.3 #19 (gist dereknola/84aeb3bc5cb149afa53820f61a4f5c26)",
		action:    remedy(profiles.TP, nativeSnap),
	},
	{
		code: "SIG-FUSE-OVERFLOWUID", component: Containerd,
		pattern:   `fuse-overlayfs: can't open /proc/sys/kernel/overflowuid: no such file or directory`,
		diagnosis: "fuse-overlayfs reads /proc/sys/kernel/overflowuid, which this sandbox (gVisor) does not have, so the fuse-overlayfs snapshotter cannot mount.",
		fix:       "kprobe launch switches containerd to the native snapshotter itself and retries",
		source:    "sandbox-zoo captures test/zoo/out/{gvisor-do,gvisor-rootless}.json (overlay probe with fuse-overlayfs)",
		action:    remedy(profiles.TP, nativeSnap),
	},
	{
		code: "SIG-OVERLAY-WHITEOUT", component: Containerd,
		pattern:   `failed to convert whiteout file "[^"]*": operation not permitted`,
		diagnosis: "Unpacking an image layer onto overlay needs mknod of whiteout devices, which a user namespace forbids.",
		fix:       "kprobe launch switches containerd to the native snapshotter itself and retries",
		source:    "prior-art.md §2.3 #18 (k3s#924, k3s PR#2595)",
		action:    remedy(profiles.TP, nativeSnap),
	},
	{
		code: "SIG-OVERLAY-DTYPE", component: Containerd,
		pattern:   `does not support d_type\. If the backing filesystem is xfs`,
		diagnosis: "The data dir's filesystem has no d_type (xfs formatted with ftype=0), which overlay needs.",
		fix:       "kprobe launch switches containerd to the native snapshotter itself and retries; or put the data dir on another filesystem (xfs reformatted with ftype=1): kprobe launch --data-dir DIR",
		source:    "prior-art.md §2.3 #20 (k3s#495); containerd 1.6.20",
		action:    remedy(profiles.TP, nativeSnap),
	},
	{
		code: "SIG-CONTAINERD-TMPMOUNT", component: Containerd,
		pattern:   `failed to mount \S*tmpmounts/containerd-mount\d+: invalid argument`,
		diagnosis: "containerd cannot mount a layer to unpack it; gVisor refuses recursive bind and remount mounts (EINVAL) with every snapshotter, so no image can be unpacked.",
		fix:       "kprobe launch switches containerd to the native snapshotter itself; under gVisor no container can start (the sandbox refuses MS_REC bind mounts), so kprobe runs the control plane only",
		source:    "sandbox-zoo.md §Task 4 (containerd 1.6 in gvisor-do)",
		action:    Action{Kind: Remedy, Settings: nativeSnap, AtMost: profiles.TP, Needs: "a sandbox that allows recursive bind mounts and remounts (a newer gVisor, or runc)"},
	},
	{
		code: "SIG-DQLITE-POSIX-ALLOCATE", component: K3s,
		pattern:   `posix_allocate: operation not supported on socket`,
		diagnosis: "The embedded datastore cannot preallocate files on this filesystem (ZFS).",
		fix:       "kprobe launch moves the data dir to a tmpfs itself and retries; or put it on another filesystem (an ext4 zvol, or tmpfs): kprobe launch --data-dir DIR",
		source:    "prior-art.md §2.3 #21 (k3d FAQ)",
		action:    Action{Kind: Remedy, Shims: []adapters.Shim{shim(adapters.ShimTmpfsDataDir)}, AtMost: profiles.T4, Needs: "a data dir on a filesystem with posix_fallocate (ext4, xfs, tmpfs)"},
	},
	{
		code: "SIG-ROOTFS-CACHE", component: Kubelet,
		pattern:   `failed to get rootfs info: unable to find data in memory cache`,
		diagnosis: "cAdvisor cannot map the kubelet's root filesystem to a device (9p in gVisor, btrfs, overlay in Docker), so the container manager does not start.",
		fix:       "kprobe launch sets the kubelet's localStorageCapacityIsolation: false itself and retries",
		source:    "prior-art.md §2.3 #22 (kubernetes#71704, k3s#8404, usernetes PR#157, minikube start_flags.go, claude-code-on-the-web exp 12-13)",
		action:    remedy(profiles.TP, noStorageIsol),
	},
	{
		code: "SIG-ROOTFS-DEVICE", component: Kubelet,
		pattern:   `failed to get rootfs info: failed to get device for dir|could not find device with major: \d+, minor: \d+ in cached partitions map`,
		diagnosis: "The block device under the kubelet's root dir is not visible in the sandbox (btrfs, LUKS, device mapper), so cAdvisor cannot stat it and the container manager does not start.",
		fix:       "kprobe launch sets the kubelet's localStorageCapacityIsolation: false itself and retries; or bind the device node into the sandbox (kind extraMounts, k3d -v /dev/mapper:/dev/mapper)",
		source:    "prior-art.md §2.3 #23 (kind known-issues, k3d FAQ, kubernetes#80633)",
		action:    remedy(profiles.TP, noStorageIsol),
	},
	{
		code: "SIG-STAT-DEVICE", component: Kubelet,
		pattern:   `stat failed on /dev/\S+ with error: no such file or directory`,
		diagnosis: "cAdvisor cannot see a block device listed in the mount table; on its own a warning, and the cause of SIG-ROOTFS-DEVICE when the device holds the kubelet's root dir.",
		fix:       "if the kubelet then fails to get rootfs info, kprobe launch sets its localStorageCapacityIsolation: false itself; or bind the device node into the sandbox",
		source:    "prior-art.md §2.3 #23 (kind known-issues, kubernetes#80633)",
		action:    advisory,
	},
	{
		code: "SIG-IMAGEFS-INFO", component: Kubelet,
		pattern:   `Failed to get the info of the filesystem with mountpoint.{0,300}unable to find data in memory cache`,
		diagnosis: "The kubelet cannot stat the image filesystem (a FUSE or overlaid snapshotter mount reports 0 bytes); harmless right after start, a problem when it persists (InvalidDiskCapacity, disk-pressure evictions).",
		fix:       "the kubelet settings localStorageCapacityIsolation: false and evictionHard " + adapters.EvictionHard + " avoid it; kprobe launch sets them itself where the scan finds the disk statistics unusable (KP-FS-001)",
		source:    "prior-art.md §2.3 #24 (k3d#1229, k3s#9962, kubernetes#113066, k0s#897, stargz-snapshotter PR#2158)",
		action:    advisory,
	},
	{
		code: "SIG-EVICTION-EPHEMERAL", component: Kubelet,
		pattern:   `must evict pod\(s\) to reclaim\W+(resourceName=\W*)?ephemeral-storage`,
		diagnosis: "The kubelet sees too little free disk (a tiny or overlaid data dir) and evicts pods.",
		fix:       "free disk space; kprobe launch sets the kubelet's evictionHard " + adapters.EvictionHard + " itself and retries",
		source:    "prior-art.md §2.3 #25 (kind known-issues, k3d FAQ)",
		action:    remedy(profiles.TP, lowEviction),
	},
	{
		code: "SIG-MOUNT-NOT-SHARED", component: Containerd,
		pattern:   `is mounted on "[^"]*" but it is not a shared mount`,
		diagnosis: "The sandbox's root mount is private, so volume mounts under /var/lib/kubelet cannot propagate into containers.",
		fix:       "kprobe launch makes / rshared itself in the cluster's own mount namespace (the rshared shim) and retries; where that is refused, pods that use mount propagation cannot run",
		source:    "prior-art.md §2.3 #26 (k3d#1063, k3s#1846, kubernetes-csi/csi-driver-smb#191); containerd 1.6.20",
		action:    remedy(profiles.TP, nil, shim(adapters.ShimRshared)),
	},

	// ---- container runtime -------------------------------------------------
	{
		code: "SIG-UNPRIV-KERNEL", component: Containerd,
		pattern:   `unprivileged_icmp and unprivileged_port\s+require kernel version greater than or equal to 4\.11`,
		diagnosis: "containerd's CRI plugin refuses to load: its config enables unprivileged ports and ICMP, which need kernel 4.11, and the kernel (gVisor) reports 4.4.0.",
		fix:       "kprobe launch sets containerd's enable_unprivileged_ports = false and enable_unprivileged_icmp = false itself and retries",
		source:    "prior-art.md §2.3 #33 (claude-code-on-the-web exp 27/31/32; containerd pkg/cri/config)",
		action:    remedy(profiles.TP, noUnprivileged),
	},
	{
		code: "SIG-RUNC-UNPRIV-PORT-SYSCTL", component: Runc,
		pattern:   `open sysctl net\.ipv4\.ip_unprivileged_port_start file: reopen fd \d+: permission denied`,
		diagnosis: "runc (1.3.3 and later) may not reopen the net.ipv4.ip_unprivileged_port_start sysctl that containerd asks it to set (LXC AppArmor), so no container starts.",
		fix:       "kprobe launch sets containerd's enable_unprivileged_ports = false itself and retries (inferred: runc then leaves the sysctl alone); or pin runc < 1.3.3",
		source:    "prior-art.md §2.3 #37 (opencontainers/runc#4972)",
		action:    remedy(profiles.TP, noUnprivileged[:1]),
	},
	{
		code: "SIG-APPARMOR-PARSER", component: Containerd,
		pattern:   `apparmor_parser version: exec: "apparmor_parser": executable file not found in \$PATH`,
		diagnosis: "The kernel reports AppArmor but apparmor_parser is not installed (LXC, WSL, minimal images), so containerd cannot load the container profile.",
		fix:       "kprobe launch sets containerd's disable_apparmor = true itself and retries; or install apparmor (apparmor_parser)",
		source:    "prior-art.md §2.3 #32 (k3s#3406, rancher/k3os#702, k0s#1039, containerd#7547); disable_apparmor from kubelet-in-userns.md",
		action:    remedy(profiles.TP, []adapters.Setting{set(adapters.Containerd, "disable_apparmor", "true")}),
	},
	{
		code: "SIG-OOM-SCORE-ADJ", component: Runc,
		pattern:   `failed to update /proc/self/oom_score_adj: (permission denied|operation not permitted)`,
		diagnosis: "runc cannot give the pod sandbox the oom_score_adj (-998) the kubelet asks for: lowering it needs CAP_SYS_RESOURCE, which the sandbox's root lacks.",
		fix:       "kprobe launch sets containerd's restrict_oom_score_adj = true itself and retries (containerd then clamps the value to its own)",
		source:    "real-cluster.md failure 1",
		action:    remedy(profiles.TP, restrictOOM),
	},
	{
		code: "SIG-RUNC-CHILD-PID-EOF", component: Runc,
		pattern: `can't get final child's PID from pipe: EOF`,
		// runc >= 1.2 appends the real cause; other rows read it.
		unless:    `runc init error\(s\):`,
		diagnosis: "runc's namespace setup died before the container started. Without CAP_SYS_RESOURCE this is runc failing to lower the pod's oom_score_adj; runc --debug shows other causes.",
		fix:       "kprobe launch sets containerd's restrict_oom_score_adj = true itself and retries; if it persists, read the nsexec error in DATA-DIR/logs/containerd.log",
		source:    "real-cluster.md failure 1",
		action:    remedy(profiles.TP, restrictOOM),
	},
	{
		code: "SIG-RUNC-NS-EPERM", component: Runc,
		pattern:   `failed to unshare (remaining namespaces|user namespace): operation not permitted|join container mntns: setns: operation not permitted`,
		diagnosis: "runc may not create or join the container's namespaces: the sandbox's seccomp filter or missing CAP_SYS_ADMIN forbids unshare and setns (Docker-like and podman containers), so no container starts.",
		fix:       "run the sandbox privileged (docker run --privileged), or with a seccomp profile that allows unshare, setns and clone with namespace flags; otherwise the control plane only",
		source:    "sandbox-zoo captures test/zoo/out/{runc-docker,crun-docker,runc-rootless,podman,podman-rootless}.json (container probe, runc libcontainer 1.5.3)",
		action:    stepDown(profiles.TP, "namespace creation allowed in the sandbox (CAP_SYS_ADMIN, or a seccomp profile that permits unshare and setns)"),
	},
	{
		code: "SIG-RUNC-CGROUP-RO", component: Runc,
		pattern:   `unable to apply cgroup configuration: mkdir /sys/fs/cgroup/\S+: (read-only file system|permission denied)`,
		diagnosis: "runc cannot create the container's cgroup: cgroupfs is read-only (Docker-like containers) or not ours (a user namespace), and runc tolerates that only when it runs rootless.",
		fix:       "kprobe launch sets containerd's disable_cgroup = true and the kubelet's cgroupsPerQOS: false itself and retries; or give the sandbox a writable cgroupfs (docker run --cgroupns=private with a rw /sys/fs/cgroup, or a delegated cgroup v2 subtree)",
		source:    "sandbox-zoo captures test/zoo/out/{runc-docker,podman,userns-user}.json (container probe: EROFS, EACCES); sandbox-zoo.md (mkdir in cgroupfs gives EROFS in docker-like containers); prior-art.md §2.1 (k3s sets disable_cgroup without delegation)",
		action:    Action{Kind: Remedy, Settings: cgroupsReadOnly, AtMost: profiles.TP, Needs: "a writable cgroup hierarchy for the container runtime"},
	},
	{
		code: "SIG-CGROUP-PROCS-ENOENT", component: Runc,
		pattern:   `failed to write \d+: open /sys/fs/cgroup/\S*cgroup\.procs: no such file or directory`,
		diagnosis: "runc cannot join the container's cgroup: gVisor's cgroupfs does not show the cgroup it just created inside a cgroup namespace, which gVisor does not support.",
		fix:       "kprobe's runtime-wrapper shim drops the cgroup namespace from each container's spec where the kernel has none (by hand: jq 'del(.linux.namespaces[] | select(.type==\"cgroup\"))' on config.json)",
		source:    "prior-art.md §2.3 #35 (claude-code-on-the-web exp 17/26, gvisor#11989)",
		action:    remedy(profiles.TP, nil, shim(adapters.ShimRuntimeWrapper)),
	},
	{
		code: "SIG-RUNC-NO-CGROUPNS", component: Runc,
		pattern:   `cgroup namespaces aren't enabled in the kernel`,
		diagnosis: "The container spec asks for a cgroup namespace and the kernel (gVisor, old RHEL 7) has none (no /proc/self/ns/cgroup).",
		fix:       "kprobe's runtime-wrapper shim drops the cgroup namespace from each container's spec where the kernel has none; or a newer kernel",
		source:    "sandbox-zoo.md §Task 4 (nested runc in gvisor-do); prior-art.md §2.3 #42 (the kernel has no cgroup namespaces)",
		action:    remedy(profiles.TP, nil, shim(adapters.ShimRuntimeWrapper)),
	},
	{
		code: "SIG-RUNC-NO-CGROUP-SUBSYS", component: Runc,
		pattern:   `mountpoint for (devices|freezer|blkio) not found`,
		diagnosis: "runc cannot find a cgroup v1 controller it needs (devices, freezer, blkio): gVisor does not implement them.",
		fix:       "none inside this sandbox: the runtime needs the devices, freezer and blkio controllers; kprobe runs the control plane only",
		source:    "sandbox-zoo.md §Task 4 (nested runc in gvisor-do: \"mountpoint for devices not found\")",
		action:    stepDown(profiles.TP, needsCgroup),
	},
	{
		code: "SIG-RUNC-NO-CGROUP-MOUNT", component: Runc,
		pattern:   `no cgroup mount found in mountinfo`,
		diagnosis: "runc finds no cgroup filesystem mounted at all (gVisor, rootless runc without a cgroupfs).",
		fix:       "mount the cgroup hierarchies the runtime needs, or run where cgroups exist; kprobe runs the control plane only",
		source:    "sandbox-zoo.md §Task 4 (nested runc --rootless in gvisor-do)",
		action:    stepDown(profiles.TP, needsCgroup),
	},
	{
		code: "SIG-SUBREAPER", component: Runc,
		pattern:   `set child subreaper: invalid argument`,
		diagnosis: "The sandbox (gVisor) does not support PR_SET_CHILD_SUBREAPER, which crun and containerd's runc shim need to reap container processes.",
		fix:       "none inside this sandbox; kprobe runs the control plane only",
		source:    "sandbox-zoo.md §Task 4 (nested crun in gvisor-do; containerd-shim-runc-v2 calls the same prctl)",
		action:    stepDown(profiles.TP, "PR_SET_CHILD_SUBREAPER (a newer gVisor, or a real kernel)"),
	},
	{
		code: "SIG-REEXEC-EINVAL", component: Runc,
		pattern:   `fork/exec /proc/self/exe: invalid argument`,
		diagnosis: "The runtime cannot re-execute itself into new namespaces inside this sandbox (gVisor refuses the clone flags).",
		fix:       "none inside this sandbox; nested runsc --rootless --ignore-cgroups works only inside a plain user namespace",
		source:    "sandbox-zoo.md §Task 4 (nested runsc --ignore-cgroups in gvisor-do)",
		action:    stepDown(profiles.TP, "a sandbox that lets the runtime create namespaces"),
	},
	{
		code: "SIG-CNI-PLUGIN-MISSING", component: Containerd,
		pattern:   `failed to find plugin "[^"]+" in path`,
		diagnosis: "A CNI plugin binary is missing from the CNI bin dir (or is a symlink, which gVisor does not follow), so pods get no network.",
		fix:       "install the CNI plugins (Debian: apt-get install containernetworking-plugins, binaries in /usr/lib/cni) and point the CNI bin dir at them; under gVisor copy the files instead of symlinking",
		source:    "prior-art.md §2.3 #27 (claude-code-on-the-web findings.md); real-cluster.md (Debian's plugins are in /usr/lib/cni)",
		action:    stepDown(profiles.TP, "the CNI plugins (bridge, host-local, portmap, loopback) installed as real files"),
	},
	{
		code: "SIG-BRIDGE-MODULE", component: Containerd,
		pattern:   `failed to create bridge "[^"]+": could not add "[^"]+": operation not supported`,
		diagnosis: "The kernel has no bridge module (a VM or container whose kernel lacks CONFIG_BRIDGE, or gVisor's netstack), so the bridge CNI plugin cannot give any pod a network; the scan records it as net.bridge=no.",
		fix:       "on the host: modprobe bridge (and veth); where the kernel has no such module, pods can only run as processes (kprobe launch --process-pods) or the cluster is the control plane only",
		source:    "issue #18 (a VM kernel without the bridge module); the CNI bridge plugin's \"failed to create bridge %q: %v\" / \"could not add %q: %v\" (Debian containernetworking-plugins), containerd 1.6 \"failed to setup network for sandbox %q: %w\"",
		action:    stepDown(profiles.TP, "the bridge and veth kernel modules (on the host: modprobe bridge veth)"),
	},
	{
		code: "SIG-NO-UNPACK-PLATFORMS", component: Containerd,
		pattern:   `no unpack platforms defined`,
		diagnosis: "containerd cannot unpack a pulled image in this sandbox.",
		fix:       "preload images into containerd's k8s.io namespace (ctr -n k8s.io images import IMAGE.tar) or use k3s air-gap images",
		source:    "prior-art.md §2.3 #36 (claude-code-on-the-web exp 32)",
		action:    stepDown(profiles.TP, "images preloaded into containerd's k8s.io namespace"),
	},
	{
		code: "SIG-SWAP-ON", component: Kubelet,
		pattern:   `running with swap on is not supported`,
		diagnosis: "Swap is on and the kubelet refuses to run with it.",
		fix:       "kprobe launch sets the kubelet's failSwapOn: false itself and retries; or swapoff -a",
		source:    "prior-art.md §2.3 #40 (kubeadm checks.go, k3s agent_linux.go, usernetes kubeadm-config.yaml); kubelet v1.37.2",
		action:    remedy(profiles.TP, []adapters.Setting{set(adapters.Kubelet, "fail-swap-on", "false")}),
	},

	// ---- host limits ---------------------------------------------------------
	{
		code: "SIG-INOTIFY", component: Any,
		pattern:   `too many open files|inotify watch limit reached|Failed to allocate directory watch`,
		diagnosis: "The host's inotify (or open file) limits are exhausted; the kubelet, containerd and the apiserver's certificate watchers fail.",
		fix:       "on the host: sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512 (and raise ulimit -n)",
		source:    "prior-art.md §2.3 #41 (kind known-issues, stolostron/capi-tests#285, k0s#8113)",
		action:    fatal("higher inotify limits on the host: sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512"),
	},
	// ---- the node agent's Service proxy (process pods, adapters/svcproxy) ----
	{
		code: "SIG-SVCPROXY-LISTEN", component: Any,
		pattern:   `svcproxy: cannot listen on (TCP|UDP) \S+ for service \S+`,
		diagnosis: "The node agent's Service proxy cannot listen on a Service address: process pods share the sandbox's one port space, so a process listening on all addresses on that port (a pod, or a program of the sandbox) holds it, or the port is below 1024 and the agent lacks CAP_NET_BIND_SERVICE; that Service port does not route.",
		fix:       "find the holder with ss -ltnup and stop or move it, or give the Service another port (kubectl edit service NAME)",
		source:    "issue #14; research/networking.md",
		action:    advisory,
		shadows:   []string{"SIG-PORT-IN-USE"},
	},
	{
		code: "SIG-SVCPROXY-STOPPED", component: Any,
		pattern:   `svcproxy: stopped: `,
		diagnosis: "The node agent's Service proxy stopped (it could not list or watch Services and EndpointSlices with kube-proxy's identity): no Service address routes any more, pods still run.",
		fix:       "check the node agent's kube-proxy kubeconfig (under DIR/kubeconfigs) and that the ClusterRole system:node-proxier is bound to system:kube-proxy; then kprobe stop --data-dir DIR and kprobe launch again",
		source:    "issue #14; adapters/svcproxy",
		action:    advisory,
	},
	{
		code: "SIG-PORT-IN-USE", component: Any,
		pattern:   `listen tcp \S+:\d+: bind: address already in use`,
		diagnosis: "A port the cluster needs is taken, often by an earlier cluster that is still running.",
		fix:       "kprobe stop --data-dir DIR for an earlier kprobe cluster; otherwise find the holder with ss -ltnp and stop it",
		source:    "real-cluster.md §4 (mistakes: the apiserver held 6443 after etcd stopped first)",
		action:    fatal("the port freed (stop the process that listens on it)"),
	},
}

// Table is the signature table, compiled from specs on first use (not at
// package init: every kprobe process, a scan too, would pay for compiling
// the patterns).
var Table = sync.OnceValue(func() []Signature { return compile(specs) })

func compile(in []spec) []Signature {
	out := make([]Signature, 0, len(in))
	for _, s := range in {
		sig := Signature{
			Code:      s.code,
			Component: s.component,
			Also:      s.also,
			Regexp:    regexp.MustCompile("(?i)" + s.pattern),
			Diagnosis: s.diagnosis,
			Fix:       s.fix,
			Source:    s.source,
			Action:    s.action,
			Shadows:   s.shadows,
		}
		sig.needles = needles(s.pattern)
		if s.unless != "" {
			sig.Unless = regexp.MustCompile("(?i)" + s.unless)
		}
		// Copy the remedy so rows that share one do not share Reasons.
		sig.Action.Settings = append([]adapters.Setting(nil), s.action.Settings...)
		for i := range sig.Action.Settings {
			st := &sig.Action.Settings[i]
			st.Reason, st.Rationale, st.Source = s.code, s.diagnosis, s.source
		}
		sig.Action.Shims = append([]adapters.Shim(nil), s.action.Shims...)
		for i := range sig.Action.Shims {
			sh := &sig.Action.Shims[i]
			sh.Reason, sh.Rationale = s.code, s.diagnosis
		}
		out = append(out, sig)
	}
	return out
}

// String is the code and what the signature means.
func (s *Signature) String() string { return fmt.Sprintf("%s: %s", s.Code, s.Diagnosis) }

// needles returns lower-cased literals one of which every match of
// pattern contains: the longest literal of its top-level concatenation,
// or one such literal per branch of a top-level alternation. It returns
// nil when some branch has none, or has only non-ASCII ones. Match checks
// them with strings.Contains before running the regexp, which makes a
// healthy line several times cheaper.
func needles(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	branches := []*syntax.Regexp{re}
	if re.Op == syntax.OpAlternate {
		branches = re.Sub
	}
	var out []string
	for _, b := range branches {
		parts := []*syntax.Regexp{b}
		if b.Op == syntax.OpConcat {
			parts = b.Sub
		}
		best := ""
		for _, p := range parts {
			if p.Op != syntax.OpLiteral {
				continue
			}
			if lit := string(p.Rune); len(lit) > len(best) && isASCII(lit) {
				best = lit
			}
		}
		if best == "" {
			return nil
		}
		out = append(out, strings.ToLower(best))
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
