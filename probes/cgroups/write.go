package cgroups

import (
	"context"

	"github.com/kprobe/kprobe/probes"
)

// WriteProbe is the active cgroups probe: in the re-exec'd child it creates
// a child cgroup under the process's own cgroup in the v1 memory, pids and
// cpu hierarchies and in the cgroup2 hierarchy, moves a grandchild process
// into each and back, tries cgroup.subtree_control, and removes every
// cgroup it made (a leftover is reported as KP-CG-006).
type WriteProbe struct{}

var _ probes.Probe = WriteProbe{}

// Codes of the active cgroups probe.
var (
	CodeNotWritable = probes.Code{Code: "KP-CG-004", Severity: probes.Block,
		Title:   "cgroups are not writable",
		Meaning: "the kubelet creates kubepods and per-QoS cgroups under its own cgroup; on a read-only (EROFS, Docker-like containers) or foreign (EACCES, user namespaces) cgroupfs it fails to start unless told not to create them.",
		Fix:     "nothing to do: kprobe launch sets the kubelet's cgroupsPerQOS: false and enforceNodeAllocatable: [] itself"}
	CodeEvacuate = probes.Code{Code: "KP-CG-005", Severity: probes.Warn,
		Title:   "cgroup2 root needs evacuation",
		Meaning: "processes live in the cgroup the kubelet would enable controllers in; the no-internal-process rule makes writing its cgroup.subtree_control fail with EBUSY (\"cannot enter cgroupv2 ... with domain controllers -- it is in an invalid state\").",
		Fix:     "mkdir -p /sys/fs/cgroup/init && xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs && sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control"}
	CodeLeftover = probes.Code{Code: "KP-CG-006", Severity: probes.Warn,
		Title:   "the probe could not undo a cgroup change",
		Meaning: "cgroups.write could not remove a cgroup it created or disable a controller it enabled; nothing else depends on it, but it should be removed by hand.",
		Fix:     "rmdir the kprobe-probe-<pid> cgroup named in the finding"}
)

// SharesChild implements probes.ChildSharer: a light probe that may run
// in one child with the other light ones.
func (WriteProbe) SharesChild() {}

func (WriteProbe) ID() string            { return "cgroups.write" }
func (WriteProbe) Domain() probes.Domain { return probes.DomainCgroups }
func (WriteProbe) Mode() probes.Mode     { return probes.Active }
func (WriteProbe) Codes() []probes.Code {
	return []probes.Code{CodeNotWritable, CodeEvacuate, CodeLeftover}
}
func (WriteProbe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "cgroups.writable", Type: probes.TypeTri, Doc: "a child cgroup can be created and joined in every hierarchy the kubelet uses (v1 memory, pids, cpu on v1/hybrid; cgroup2 on v2)"},
		{Key: "cgroups.v1_writable", Type: probes.TypeTri, Doc: "mkdir of a child cgroup works in the v1 memory, pids and cpu hierarchies"},
		{Key: "cgroups.v2_writable", Type: probes.TypeTri, Doc: "mkdir of a child cgroup works in the cgroup2 hierarchy"},
		{Key: "cgroups.join", Type: probes.TypeTri, Doc: "a process can be moved into the new child cgroups (cgroup.procs) and back"},
		{Key: "cgroups.subtree_control_writable", Type: probes.TypeTri, Doc: "cgroup.subtree_control of the process's cgroup2 cgroup (or of its new child) accepts a controller"},
		{Key: "cgroups.needs_evacuation", Type: probes.TypeTri, Doc: "enabling a controller in the process's own cgroup2 cgroup fails with EBUSY because processes live in it"},
	}
}

// Run runs the write trials; only meaningful inside the active child.
func (WriteProbe) Run(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	return runWrite(ctx, env)
}

// Ops returns the grandchild ops of the package.
func Ops() map[string]probes.Op {
	return map[string]probes.Op{joinOp: join}
}

// joinOp moves the grandchild into cgroups and back: args are pairs of
// (new cgroup dir, original cgroup dir).
const joinOp = "cgroups.join"

// childPrefix names every cgroup the probe creates.
const childPrefix = "kprobe-probe-"

// triOfWrite turns the outcome of a write trial into a Tri: a denial is a
// certain no; an error that is not a denial says nothing.
func triOfWrite(err error) probes.Tri {
	if err == nil {
		return probes.Yes
	}
	switch probes.Errno(err) {
	case "EACCES", "EPERM", "EROFS", "ENOSPC":
		return probes.No
	}
	return probes.Unknown
}

// all combines trials: any no is no, all yes is yes, else unknown; an
// empty list is unknown.
func all(ts []probes.Tri) probes.Tri {
	if len(ts) == 0 {
		return probes.Unknown
	}
	out := probes.Yes
	for _, t := range ts {
		switch t {
		case probes.No:
			return probes.No
		case probes.Unknown:
			out = probes.Unknown
		}
	}
	return out
}
