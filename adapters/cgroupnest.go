package adapters

import (
	"path"
	"slices"
	"strings"

	"github.com/kprobe/kprobe/adapters/runspec"
	"github.com/kprobe/kprobe/probes"
)

// containerSandboxes are the identities whose own cgroup is a container's:
// pods' cgroups at the top of a cgroup tree they share with the host
// would outlive the container and meet a kubelet on the host.
var containerSandboxes = []string{"docker", "podman", "lxc", "nspawn", "kubernetes", "container"}

// NestedCgroupRoot is the kubelet's cgroup root below the sandbox's own
// cgroup (kind runs its kubelet with --cgroup-root=/kubelet), or "" to
// leave it at "/". It nests only in a container whose cgroup mounts show
// the host's tree above its own cgroup (cgroups.own_path below "/": no
// cgroup namespace, the host's /sys/fs/cgroup bound in, --cgroupns=host on
// cgroup v2), where the kubelet's /kubepods would be the host's. A host or
// VM keeps "/" (its tree is its own, and every e2e test runs there), as
// does a container whose mounts show its own cgroup as their root (a
// cgroup namespace, runc's v1 binds): /kubepods is nested there already.
// On cgroup v2 the own cgroup holds the container's processes, so no
// controller can be enabled below it (no internal processes): the root
// stays "/" unless the scan found its controllers enableable.
func NestedCgroupRoot(f probes.Facts) string {
	own := f.String("cgroups.own_path")
	if !slices.Contains(containerSandboxes, f.String("identity.sandbox")) ||
		own == "" || own == "/" || len(own) > 512 || !path.IsAbs(own) || path.Clean(own) != own ||
		strings.ContainsAny(own, "\n*?[\\") {
		return ""
	}
	if f.Tri("cgroups.writable") == probes.No {
		return "" // R-CGROUP-RO: the kubelet makes no cgroups
	}
	switch f.String("cgroups.layout") {
	case "v1", "hybrid":
	case "v2":
		if f.Tri("cgroups.needs_evacuation") != probes.No {
			return ""
		}
	default:
		return ""
	}
	return path.Join(own, runspec.NestedCgroupRootName)
}

// nestCgroupRoot adds the kubelet's --cgroup-root when NestedCgroupRoot
// gives one, and a note when the sandbox shows the host's tree but the
// root cannot be nested.
func nestCgroupRoot(plan *Plan, f probes.Facts) {
	if !plan.Worker() {
		return
	}
	if root := NestedCgroupRoot(f); root != "" {
		plan.Settings = append(plan.Settings, Setting{Component: Kubelet, Name: "cgroup-root", Value: root,
			Reason:    "R-CGROUP-NEST",
			Rationale: "the container sees the host's cgroup tree (own cgroup " + f.String("cgroups.own_path") + "): pods' cgroups go below it, made by launch and removed by stop, not at the host's top level where they would meet a kubelet on the host and outlive the container",
			Source:    "kind (kubelet --cgroup-root=/kubelet); issue #18"})
		return
	}
	own := f.String("cgroups.own_path")
	if slices.Contains(containerSandboxes, f.String("identity.sandbox")) && own != "" && own != "/" &&
		f.String("cgroups.layout") == "v2" && f.Tri("cgroups.writable") != probes.No {
		plan.Notes = append(plan.Notes, "the container sees the host's cgroup v2 tree and its own cgroup "+own+
			" holds processes, so no controller can be enabled below it: pods' cgroups go to the host's top level (/kubepods); docker run --cgroupns=private nests them")
	}
}
