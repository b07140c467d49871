package identity

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/kernel"
	"github.com/kprobe/kprobe/probes/procfs"
)

// Markers is everything identity gathers before judging. Classify is a
// pure function of it, so every sandbox of the zoo is a table row.
// Zero values mean "not seen"; fields that can be unreadable say how.
type Markers struct {
	// Kernel.
	Release     string     // uname -r
	ProcVersion string     // first line of /proc/version
	Syslog      string     // start of the kernel log; "" when syslog(2) failed
	Namespaces  []string   // names in /proc/self/ns; nil when unreadable
	Cgroup2     probes.Tri // cgroup2 is listed in /proc/filesystems
	Cmdline     string     // /proc/cmdline

	// Machine.
	Hypervisor     probes.Tri // "hypervisor" flag in /proc/cpuinfo; Unknown without a flags line
	SysVendor      string     // /sys/class/dmi/id/sys_vendor
	ProductName    string     // /sys/class/dmi/id/product_name
	HypervisorType string     // /sys/hypervisor/type ("xen")
	ACPIOEM        string     // OEM ID of /sys/firmware/acpi/tables/FACP ("FIRECK"); root only

	// Mount table and cgroups of this process.
	Mounts      []*mountinfo.Info // /proc/self/mountinfo; nil when unreadable
	CgroupPaths []string          // paths of /proc/self/cgroup

	// Marker files.
	DockerEnv        bool   // /.dockerenv exists (weak: the Firecracker image has one)
	ContainerEnv     bool   // /run/.containerenv exists (podman)
	KubeSecrets      bool   // /var/run/secrets/kubernetes.io exists
	WSLInterop       bool   // /proc/sys/fs/binfmt_misc/WSLInterop exists
	SystemdContainer string // /run/systemd/container

	// Environment of this process and of pid 1 (when readable).
	Env         map[string]string
	PID1Env     map[string]string
	PID1Cmdline []string // argv of pid 1; nil when unreadable

	// Credentials; Creds is nil when /proc/self/status is unreadable.
	Creds  *Creds
	UserNS probes.Tri // not in the initial user namespace (uid_map rule)
	UIDMap string     // uid_map on one line
}

// Creds are the credentials bubblewrap detection uses.
type Creds struct {
	UID      int64
	CapCount int
}

// Identity is the verdict.
type Identity struct {
	Sandbox    string   // host|vm|gvisor|docker|podman|lxc|nspawn|wsl|kubernetes|bubblewrap|userns|container|unknown
	VM         string   // firecracker|kvm|qemu|vmware|hyperv|xen|none|unknown
	IDE        string   // codespaces|gitpod|none
	Confidence string   // high|medium|low
	Markers    []string // the markers that decided Sandbox, VM and IDE, as "class: what"
	Others     []string // markers seen but not decisive (for example /.dockerenv on the host)
}

// Marker weights: a class wins with a total of at least 2; 4 or more is
// high confidence.
const (
	weak     = 1
	strong   = 2
	decisive = 3
)

type marker struct {
	class  string
	weight int
	text   string
}

// order is the precedence of sandbox classes, innermost first: gVisor in a
// pod is reported as gvisor, a Docker container in WSL as docker, a
// container in a user namespace as container.
var order = []string{"gvisor", "kubernetes", "podman", "lxc", "nspawn", "docker", "bubblewrap",
	"container", "wsl", "userns", "vm", "host"}

// Classify decides the sandbox, the VM underneath and the IDE.
func Classify(m Markers) Identity {
	ms := collect(m)
	vm, vmMarkers := classifyVM(m)
	ms = append(ms, vmMarkers...)

	score := map[string]int{}
	for _, mk := range ms {
		score[mk.class] += mk.weight
	}
	id := Identity{Sandbox: "unknown", VM: vm, IDE: "none", Confidence: "low"}
	for _, c := range order {
		if score[c] >= strong {
			id.Sandbox = c
			break
		}
	}
	if id.Sandbox != "unknown" {
		id.Confidence = "medium"
		if score[id.Sandbox] >= 4 {
			id.Confidence = "high"
		}
	}

	switch {
	case m.Env["CODESPACES"] == "true":
		id.IDE = "codespaces"
		ms = append(ms, marker{"ide", decisive, "CODESPACES=true in the environment"})
	case m.Env["GITPOD_WORKSPACE_ID"] != "":
		id.IDE = "gitpod"
		ms = append(ms, marker{"ide", decisive, "GITPOD_WORKSPACE_ID is set"})
	}

	for _, mk := range ms {
		s := mk.class + ": " + mk.text
		if mk.class == id.Sandbox || mk.class == "ide" || mk.class == "vm" && vm != "none" {
			id.Markers = append(id.Markers, s)
		} else {
			id.Others = append(id.Others, s)
		}
	}
	return id
}

// collect turns the raw markers into weighted sandbox markers.
func collect(m Markers) []marker {
	var out []marker
	add := func(class string, w int, format string, args ...any) {
		out = append(out, marker{class, w, fmt.Sprintf(format, args...)})
	}
	root := procfs.MountFor(m.Mounts, "/")
	haveRoot := root != nil

	// gVisor.
	if kernel.IsGVisorRelease(m.Release, m.ProcVersion) {
		add("gvisor", decisive, "kernel %s with gVisor's build string %q", m.Release, m.ProcVersion)
	}
	if strings.Contains(m.Syslog, "Starting gVisor") {
		add("gvisor", decisive, "the kernel log says \"Starting gVisor\"")
	}
	if len(m.Namespaces) > 0 && !slices.Contains(m.Namespaces, "mnt") {
		add("gvisor", strong, "only %v in /proc/self/ns (Linux always has mnt)", m.Namespaces)
	}
	if haveRoot && root.FSType == "9p" {
		add("gvisor", weak, "root filesystem is 9p (a gofer mount)")
	}
	if m.Cgroup2 == probes.No {
		add("gvisor", weak, "no cgroup2 in /proc/filesystems")
	}

	// Container manager, from the "container" variable that podman, LXC,
	// systemd-nspawn and some images set, wherever it is visible.
	for _, src := range []struct{ where, val string }{
		{"environment", m.Env["container"]},
		{"environment of pid 1", m.PID1Env["container"]},
		{"/run/systemd/container", strings.TrimSpace(m.SystemdContainer)},
	} {
		switch v := src.val; {
		case v == "":
		case v == "podman":
			add("podman", decisive, "container=podman in the %s", src.where)
		case v == "lxc" || v == "lxc-libvirt":
			add("lxc", decisive, "container=%s in the %s", v, src.where)
		case v == "systemd-nspawn":
			add("nspawn", decisive, "container=systemd-nspawn in the %s", src.where)
		case v == "docker":
			add("docker", strong, "container=docker in the %s", src.where)
		default:
			add("container", strong, "container=%s in the %s", v, src.where)
		}
	}

	// Kubernetes.
	if m.Env["KUBERNETES_SERVICE_HOST"] != "" {
		add("kubernetes", decisive, "KUBERNETES_SERVICE_HOST=%s in the environment", m.Env["KUBERNETES_SERVICE_HOST"])
	}
	if m.KubeSecrets {
		add("kubernetes", strong, "/var/run/secrets/kubernetes.io exists (service account)")
	}

	// cgroup paths.
	cg := map[string]string{}
	for _, p := range m.CgroupPaths {
		switch {
		case strings.Contains(p, "kubepods"):
			cg["kubernetes"] = p
		case strings.Contains(p, "libpod"):
			cg["podman"] = p
		case strings.Contains(p, "docker"):
			cg["docker"] = p
		case strings.Contains(p, "/lxc/") || strings.Contains(p, "lxc.payload"):
			cg["lxc"] = p
		case strings.Contains(p, "machine.slice/machine-"):
			cg["nspawn"] = p
		case strings.Contains(p, "containerd") || strings.Contains(p, "crio-"):
			cg["container"] = p
		}
	}
	for _, c := range order {
		if p, ok := cg[c]; ok {
			add(c, strong, "cgroup path %s", p)
		}
	}

	// Files podman writes.
	if m.ContainerEnv {
		add("podman", strong, "/run/.containerenv exists")
	}

	// Mount table.
	if haveRoot {
		switch {
		case strings.Contains(root.VFSOptions, "/docker/"):
			add("docker", decisive, "root overlay layers under Docker's storage (%s)", short(root.VFSOptions))
		case strings.Contains(root.VFSOptions, "containers/storage") || strings.Contains(root.Root, "containers/storage"):
			add("podman", weak, "root filesystem in containers/storage (podman, buildah, CRI-O)")
		case strings.Contains(root.VFSOptions, "containerd"):
			add("container", strong, "root overlay layers under containerd's snapshotter (%s)", short(root.VFSOptions))
		}
		if root.Root != "/" && root.Root != "" {
			add("container", strong, "root is %s of %s bound as / (pivot_root into a bundle)", root.Root, root.Source)
		}
		if root.FSType == "overlay" {
			if m.DockerEnv {
				add("docker", strong, "/.dockerenv with an overlay root")
			} else {
				add("container", weak, "root filesystem is overlay")
			}
		}
		if root.FSType == "tmpfs" && m.Creds != nil && m.Creds.UID != 0 && m.Creds.CapCount == 0 {
			add("bubblewrap", strong, "uid %d with no capabilities on a tmpfs root", m.Creds.UID)
		}
	}
	var masked, binds []string
	lxcfs := false
	for _, mt := range m.Mounts {
		switch mt.Mountpoint {
		case "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/scsi",
			"/proc/acpi", "/proc/latency_stats", "/proc/asound", "/sys/firmware", "/proc/interrupts":
			masked = append(masked, mt.Mountpoint)
		case "/etc/hostname", "/etc/hosts", "/etc/resolv.conf":
			binds = append(binds, mt.Mountpoint)
		}
		if strings.Contains(mt.Root, "/docker/containers/") {
			add("docker", strong, "%s is bound from Docker's container directory", mt.Mountpoint)
		}
		if strings.Contains(mt.Root, "/kubelet/pods/") {
			add("kubernetes", strong, "%s is bound from the kubelet's pod directory", mt.Mountpoint)
		}
		if mt.FSType == "fuse.lxcfs" {
			lxcfs = true
		}
	}
	if lxcfs {
		add("lxc", weak, "lxcfs is mounted")
	}
	if len(masked) > 0 {
		add("container", strong, "masked paths %v (a runtime's maskedPaths)", masked)
	}
	if len(binds) > 0 {
		add("container", weak, "%v are bind mounts", binds)
	}
	if m.DockerEnv && !(haveRoot && root.FSType == "overlay") {
		add("docker", weak, "/.dockerenv exists (alone it proves nothing: some VM images ship it)")
	}

	// bubblewrap.
	if len(m.PID1Cmdline) > 0 && path.Base(m.PID1Cmdline[0]) == "bwrap" {
		add("bubblewrap", decisive, "pid 1 is %s", strings.Join(m.PID1Cmdline, " "))
	}

	// WSL.
	rel := strings.ToLower(m.Release)
	if strings.Contains(rel, "microsoft") || strings.Contains(rel, "wsl") {
		add("wsl", decisive, "kernel release %s", m.Release)
	}
	if m.WSLInterop {
		add("wsl", decisive, "/proc/sys/fs/binfmt_misc/WSLInterop exists")
	}

	// A user namespace of our own.
	if m.UserNS == probes.Yes {
		add("userns", strong, "uid_map %q is not the initial namespace's \"0 0 4294967295\"", m.UIDMap)
	}
	return out
}

// classifyVM names the hypervisor under the kernel, with its markers in
// classes "vm" (it is a VM) and "host" (it is not).
func classifyVM(m Markers) (string, []marker) {
	var out []marker
	add := func(class string, w int, format string, args ...any) {
		out = append(out, marker{class, w, fmt.Sprintf(format, args...)})
	}
	kind := ""
	if m.Hypervisor == probes.Yes {
		add("vm", strong, "hypervisor flag in /proc/cpuinfo")
	}
	if strings.Contains(m.Cmdline, "firecracker") {
		kind = "firecracker"
		add("vm", strong, "/proc/cmdline mentions firecracker")
	}
	if strings.Contains(m.Release, "-fc-") {
		add("vm", weak, "kernel release %s is a Firecracker build (-fc-)", m.Release)
		if kind == "" && m.Hypervisor == probes.Yes {
			kind = "firecracker"
		}
	}
	// Bare-metal cloud machines keep their vendor's DMI strings: believe
	// DMI only where the CPU does not deny a hypervisor.
	if k := dmiKind(m.SysVendor, m.ProductName); k != "" && m.Hypervisor != probes.No {
		add("vm", strong, "DMI says %q %q", strings.TrimSpace(m.SysVendor), strings.TrimSpace(m.ProductName))
		if kind == "" {
			kind = k
		}
	}
	if k := acpiKind(m.ACPIOEM); k != "" {
		add("vm", strong, "ACPI tables come from %q", m.ACPIOEM)
		if kind == "" || kind == "unknown" {
			kind = k
		}
	}
	if t := strings.TrimSpace(m.HypervisorType); t != "" {
		add("vm", strong, "/sys/hypervisor/type is %s", t)
		if kind == "" && t == "xen" {
			kind = "xen"
		}
	}
	rel := strings.ToLower(m.Release)
	if kind == "" && (m.WSLInterop || strings.Contains(rel, "microsoft") || strings.Contains(rel, "wsl")) {
		kind = "hyperv"
	}
	if i := strings.Index(m.Syslog, "Hypervisor detected: "); i >= 0 {
		name, _, _ := strings.Cut(m.Syslog[i+len("Hypervisor detected: "):], "\n")
		name = strings.TrimSpace(name)
		add("vm", weak, "the kernel log says \"Hypervisor detected: %s\"", name)
		if kind == "" {
			kind = dmiKind(name, name)
		}
	}
	switch {
	case kind != "":
		return kind, out
	case len(out) > 0:
		return "unknown", out
	case m.Hypervisor == probes.No && m.SysVendor == "":
		add("host", strong, "no hypervisor flag in /proc/cpuinfo and no DMI vendor")
		return "none", out
	case m.Hypervisor == probes.No:
		add("host", strong, "no hypervisor flag in /proc/cpuinfo; DMI vendor %q", strings.TrimSpace(m.SysVendor))
		return "none", out
	}
	return "unknown", out
}

// dmiKind maps a DMI vendor and product (or a "Hypervisor detected" name)
// to a VM kind; "" when they name no hypervisor.
func dmiKind(vendor, product string) string {
	v := strings.ToLower(strings.TrimSpace(vendor) + " " + strings.TrimSpace(product))
	switch {
	case strings.Contains(v, "firecracker"):
		return "firecracker"
	case strings.Contains(v, "qemu") || strings.Contains(v, "bochs") || strings.Contains(v, "standard pc"):
		return "qemu"
	case strings.Contains(v, "kvm") || strings.Contains(v, "amazon ec2") || strings.Contains(v, "google compute") ||
		strings.Contains(v, "openstack") || strings.Contains(v, "digitalocean") || strings.Contains(v, "cloud hypervisor"):
		return "kvm"
	case strings.Contains(v, "vmware"):
		return "vmware"
	case strings.Contains(v, "microsoft") || strings.Contains(v, "hyper-v"):
		if strings.Contains(v, "virtual") || strings.Contains(v, "hyper-v") {
			return "hyperv"
		}
	case strings.Contains(v, "xen"):
		return "xen"
	}
	return ""
}

// acpiKind maps the OEM ID of the ACPI tables a hypervisor writes to its
// kind; "" for firmware of real machines.
func acpiKind(oem string) string {
	switch oem {
	case "FIRECK":
		return "firecracker"
	case "BOCHS":
		return "qemu"
	case "VMWARE":
		return "vmware"
	case "VRTUAL":
		return "hyperv"
	case "Xen":
		return "xen"
	case "AMAZON", "Google", "CLOUDH":
		return "kvm"
	}
	return ""
}

func short(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
