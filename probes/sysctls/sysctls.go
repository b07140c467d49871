// Package sysctls reads, and tests the writability of, the /proc/sys
// entries that Kubernetes components read or write at start-up.
//
// Why: the kubelet (unless --protect-kernel-defaults) writes
// vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops
// and kernel.keys.root_max{keys,bytes} when they differ from its values, and
// fails with "Failed to start ContainerManager" when it cannot read or write
// one (k3s: "open /proc/sys/vm/overcommit_memory: read-only file system").
// kube-proxy writes net.netfilter.nf_conntrack_max; pod networking needs
// net.ipv4.ip_forward=1 and br_netfilter's net.bridge.bridge-nf-call-iptables;
// runc reads kernel.cap_last_cap; containerd sets
// net.ipv4.ip_unprivileged_port_start in pod sandboxes; and low inotify
// limits make kubelet and pods fail with "too many open files". Containers
// mount /proc/sys read-only (EROFS), user namespaces get EACCES, and gVisor
// lacks most entries and answers EIO to some writes.
//
// Two probes: "sysctls" (passive) reads every entry; "sysctls.write"
// (active) writes each readable entry's value back unchanged to learn
// whether it is writable. Nothing is ever changed.
package sysctls

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// Names lists the sysctls both probes look at, in output order.
var Names = []string{
	"vm.overcommit_memory",
	"vm.panic_on_oom",
	"kernel.panic",
	"kernel.panic_on_oops",
	"kernel.keys.root_maxkeys",
	"kernel.keys.root_maxbytes",
	"net.ipv4.ip_forward",
	"net.bridge.bridge-nf-call-iptables",
	"net.netfilter.nf_conntrack_max",
	"net.ipv4.ip_unprivileged_port_start",
	"kernel.cap_last_cap",
	"fs.inotify.max_user_watches",
	"fs.inotify.max_user_instances",
}

// Sysctls the findings refer to.
const (
	ipForward     = "net.ipv4.ip_forward"
	bridgeNF      = "net.bridge.bridge-nf-call-iptables"
	conntrackMax  = "net.netfilter.nf_conntrack_max"
	capLastCap    = "kernel.cap_last_cap"
	inotifyWatch  = "fs.inotify.max_user_watches"
	inotifyInst   = "fs.inotify.max_user_instances"
	minWatches    = 65536
	minInstances  = 512
	fixWatches    = 524288
	fixInstances  = 8192
	shimDir       = "/run/kprobe-sysctl"
	shimTmpfsOpts = "size=64k,mode=0755"
)

// Tunable is a sysctl the kubelet sets at start-up.
type Tunable struct {
	Name string
	Want int64
}

// KubeletTunables are the values the kubelet's setupKernelTunables
// enforces (pkg/kubelet/cm/container_manager_linux.go): it reads each one
// (a failed read is an error) and writes the ones that differ (a failed
// write is an error unless KubeletInUserNamespace is on and the kubelet
// runs in a user namespace).
var KubeletTunables = []Tunable{
	{"vm.overcommit_memory", 1},
	{"vm.panic_on_oom", 0},
	{"kernel.panic", 10},
	{"kernel.panic_on_oops", 1},
	{"kernel.keys.root_maxkeys", 1000000},
	{"kernel.keys.root_maxbytes", 25000000},
}

// KubeletValues maps each of KubeletTunables to its value as the kubelet
// writes it. KubeletTunables is the one list of the kubelet's sysctls:
// the probes, the fake-sysctls shim, the launch's host journal and the
// host check all read it.
func KubeletValues() map[string]string {
	m := make(map[string]string, len(KubeletTunables))
	for _, t := range KubeletTunables {
		m[t.Name] = strconv.FormatInt(t.Want, 10)
	}
	return m
}

// Path is the path of a sysctl relative to "/": "proc/sys/vm/overcommit_memory".
func Path(name string) string { return "proc/sys/" + strings.ReplaceAll(name, ".", "/") }

// ParseInt parses a sysctl value the way the kubelet's GetSysctl does:
// spaces and newlines trimmed, then a base-10 integer.
func ParseInt(value string) (int64, error) {
	return strconv.ParseInt(strings.Trim(value, " \n"), 10, 64)
}

// Probe is the passive sysctls probe.
type Probe struct{}

var _ probes.Probe = Probe{}

// Codes of the passive probe.
var (
	CodeKubeletAbsent = probes.Code{Code: "KP-SYS-001", Severity: probes.Warn,
		Title:   "sysctls the kubelet reads are absent",
		Meaning: "The kubelet reads vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops and kernel.keys.root_max{keys,bytes} at start-up; a missing one (gVisor) fails \"Failed to start ContainerManager\", and no kubelet flag or feature gate skips the read.",
		Fix:     "kprobe launch applies its fake-sysctl shim (a tmpfs over the /proc/sys directory holding the kubelet's values)"}
	CodeConntrackAbsent = probes.Code{Code: "KP-SYS-002", Severity: probes.Warn,
		Title:   "net.netfilter.nf_conntrack_max is absent",
		Meaning: "kube-proxy writes nf_conntrack_max at start-up and exits when it cannot (nf_conntrack not loaded, or gVisor).",
		Fix:     "nothing to do: kprobe launch sets kube-proxy's conntrack maxPerCore: 0 itself (or on the host: modprobe nf_conntrack)"}
	CodeBridgeNFAbsent = probes.Code{Code: "KP-SYS-003", Severity: probes.Warn,
		Title:   "net.bridge.bridge-nf-call-iptables is absent (br_netfilter not loaded)",
		Meaning: "Without br_netfilter, traffic between pods on the same bridge bypasses iptables: Service IPs reached from a pod on the same node do not work with kube-proxy in iptables mode.",
		Fix:     "kprobe launch loads it itself where the kernel has it as a module and kprobe runs with CAP_SYS_MODULE outside a user namespace ('kprobe plan' says whether; stop unloads it); otherwise on the host: modprobe br_netfilter (persist with: echo br_netfilter >/etc/modules-load.d/k8s.conf)"}
	CodeInotifyLow = probes.Code{Code: "KP-SYS-004", Severity: probes.Warn,
		Title:   "inotify limits are low",
		Meaning: "The kubelet, containerd and many pods each take inotify instances and watches; below about 512 instances or 65536 watches the node fails with \"too many open files\" or \"inotify watch limit reached\".",
		Fix:     fmt.Sprintf("sysctl -w fs.inotify.max_user_instances=%d fs.inotify.max_user_watches=%d (on the host)", fixInstances, fixWatches)}
	CodeCapLastCapAbsent = probes.Code{Code: "KP-SYS-005", Severity: probes.Warn,
		Title:   "kernel.cap_last_cap is absent",
		Meaning: "runc reads /proc/sys/kernel/cap_last_cap to know the last capability; without it every pod sandbox fails: \"open /proc/sys/kernel/cap_last_cap: no such file or directory\" (gVisor).",
		Fix:     "kprobe launch applies its fake-sysctl shim (cap_last_cap under /proc/sys/kernel, set to the highest capability of the bounding set: 37 in runsc do, 40 on a Linux 5.9+ host)"}
)

func (Probe) ID() string            { return "sysctls" }
func (Probe) Domain() probes.Domain { return probes.DomainSysctls }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code {
	return []probes.Code{CodeKubeletAbsent, CodeConntrackAbsent, CodeBridgeNFAbsent, CodeInotifyLow, CodeCapLastCapAbsent}
}

func (Probe) Facts() []probes.FactSpec {
	var specs []probes.FactSpec
	for _, n := range Names {
		specs = append(specs,
			probes.FactSpec{Key: "sysctl." + n + ".present", Type: probes.TypeTri,
				Doc: "/" + Path(n) + " exists (unknown when reading it failed otherwise than ENOENT)"},
			probes.FactSpec{Key: "sysctl." + n + ".value", Type: probes.TypeString,
				Doc: "value of /" + Path(n) + ", whitespace trimmed; set only when readable"})
	}
	return specs
}

// Reading is the outcome of reading one sysctl.
type Reading struct {
	Name  string
	Raw   []byte // exactly what was read
	Value string // Raw, whitespace trimmed
	Err   error
}

// Present is Yes when the read worked, No on ENOENT, Unknown otherwise.
func (r Reading) Present() probes.Tri {
	switch {
	case r.Err == nil:
		return probes.Yes
	case probes.Errno(r.Err) == "ENOENT":
		return probes.No
	}
	return probes.Unknown
}

// Read reads one sysctl through root.
func Read(root fs.FS, name string) Reading {
	raw, err := fs.ReadFile(root, Path(name))
	return Reading{Name: name, Raw: raw, Value: strings.TrimSpace(string(raw)), Err: err}
}

// Run reads every sysctl of Names.
func (Probe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	rs := map[string]Reading{}
	for _, n := range Names {
		r := Read(env.Root, n)
		rs[n] = r
		o.Set("sysctl."+n+".present", r.Present())
		if r.Err == nil {
			o.Set("sysctl."+n+".value", r.Value)
		}
		o.Note("/"+Path(n), r.Value, r.Err)
	}
	judgeRead(o, rs)
	return o, nil
}

// judgeRead derives the passive probe's findings from the readings.
func judgeRead(o *probes.Observation, rs map[string]Reading) {
	var absent []Tunable
	for _, t := range KubeletTunables {
		if rs[t.Name].Present() == probes.No {
			absent = append(absent, t)
		}
	}
	if len(absent) > 0 {
		o.FindFix(CodeKubeletAbsent, "absent: "+tunableNames(absent)+": the kubelet's read of each fails",
			evidence(rs[absent[0].Name]), CodeKubeletAbsent.Fix+"; by hand, as root in the sandbox before the kubelet starts: "+tmpfsShim(rs))
	}
	if r := rs[conntrackMax]; r.Present() == probes.No {
		o.Find(CodeConntrackAbsent, conntrackMax+" is absent", evidence(r))
	}
	if r := rs[bridgeNF]; r.Present() == probes.No {
		o.Find(CodeBridgeNFAbsent, bridgeNF+" is absent", evidence(r))
	}
	var low, fix []string
	if v, err := ParseInt(rs[inotifyInst].Value); rs[inotifyInst].Err == nil && err == nil && v < minInstances {
		low = append(low, fmt.Sprintf("%s=%d (< %d)", inotifyInst, v, minInstances))
		fix = append(fix, fmt.Sprintf("%s=%d", inotifyInst, fixInstances))
	}
	if v, err := ParseInt(rs[inotifyWatch].Value); rs[inotifyWatch].Err == nil && err == nil && v < minWatches {
		low = append(low, fmt.Sprintf("%s=%d (< %d)", inotifyWatch, v, minWatches))
		fix = append(fix, fmt.Sprintf("%s=%d", inotifyWatch, fixWatches))
	}
	if len(low) > 0 {
		ev := evidence(rs[inotifyInst])
		if !strings.HasPrefix(low[0], inotifyInst) {
			ev = evidence(rs[inotifyWatch])
		}
		o.FindFix(CodeInotifyLow, strings.Join(low, ", "), ev,
			"sysctl -w "+strings.Join(fix, " ")+" (on the host)")
	}
	if r := rs[capLastCap]; r.Present() == probes.No {
		o.FindFix(CodeCapLastCapAbsent, capLastCap+" is absent", evidence(r),
			CodeCapLastCapAbsent.Fix+"; by hand, as root in the sandbox before k3s starts: "+tmpfsShim(rs))
	}
	word := map[probes.Tri]string{probes.Yes: "present", probes.No: "absent", probes.Unknown: "unreadable"}
	var states [][2]string
	for _, n := range Names {
		states = append(states, [2]string{n, word[rs[n].Present()]})
	}
	o.Summary = stateSummary(states)
	if len(low) > 0 {
		o.Summary += "; low: " + strings.Join(low, ", ")
	}
}

// stateSummary renders (sysctl, state) pairs for a summary: the sysctls
// of a state with few of them by name, the others counted ("12 writable,
// readonly: kernel.cap_last_cap").
func stateSummary(states [][2]string) string {
	var order []string
	by := map[string][]string{}
	for _, s := range states {
		if _, ok := by[s[1]]; !ok {
			order = append(order, s[1])
		}
		by[s[1]] = append(by[s[1]], s[0])
	}
	var parts []string
	for _, st := range order {
		if n := by[st]; len(n) > 2 {
			parts = append(parts, fmt.Sprintf("%d %s", len(n), st))
		} else {
			parts = append(parts, st+": "+strings.Join(n, " "))
		}
	}
	return strings.Join(parts, ", ")
}

func evidence(r Reading) probes.Evidence {
	return probes.Evidence{Source: "/" + Path(r.Name), Excerpt: r.Value, Errno: probes.Errno(r.Err)}
}

func tunableNames(ts []Tunable) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// tmpfsShim renders the commands that replace each top-level /proc/sys
// directory (kernel, vm) holding an absent kubelet tunable, or an absent
// kernel.cap_last_cap, by a tmpfs with every kubelet tunable of that
// directory at the kubelet's value, and cap_last_cap under kernel (the
// highest bit of the bounding set, computed by the command itself). The
// tmpfs hides the directory's other entries, which such sandboxes (gVisor)
// mostly lack anyway.
func tmpfsShim(rs map[string]Reading) string {
	var tops []string
	seen := map[string]bool{}
	add := func(name string) {
		if top := strings.SplitN(name, ".", 2)[0]; !seen[top] {
			seen[top] = true
			tops = append(tops, top)
		}
	}
	for _, t := range KubeletTunables {
		if rs[t.Name].Present() == probes.No {
			add(t.Name)
		}
	}
	capAbsent := rs[capLastCap].Present() == probes.No
	if capAbsent {
		add(capLastCap)
	}
	var cmds []string
	for _, top := range tops {
		cmds = append(cmds, "mount -t tmpfs -o "+shimTmpfsOpts+" kprobe-sysctl /proc/sys/"+top)
		if top == "kernel" {
			cmds = append(cmds, "mkdir /proc/sys/kernel/keys")
		}
		for _, t := range KubeletTunables {
			if strings.HasPrefix(t.Name, top+".") {
				cmds = append(cmds, fmt.Sprintf("echo %d >/%s", t.Want, Path(t.Name)))
			}
		}
		if top == "kernel" {
			// The last capability of Linux 5.9+ (CAP_CHECKPOINT_RESTORE).
			cmds = append(cmds, `b=$((0x$(awk '/^CapBnd/{print $2}' /proc/self/status))) n=-1 && while [ $b -gt 0 ]; do b=$((b>>1)) n=$((n+1)); done && echo $n >/`+Path(capLastCap))
		}
	}
	return strings.Join(cmds, " && ")
}
