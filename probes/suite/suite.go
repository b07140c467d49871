// Package suite is the explicit registry of kprobe's probes: the order
// here is the order of the output.
package suite

import (
	"sync"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/cgroups"
	"github.com/kprobe/kprobe/probes/container"
	"github.com/kprobe/kprobe/probes/devices"
	"github.com/kprobe/kprobe/probes/filesystems"
	"github.com/kprobe/kprobe/probes/identity"
	"github.com/kprobe/kprobe/probes/kernel"
	"github.com/kprobe/kprobe/probes/mounts"
	"github.com/kprobe/kprobe/probes/namespaces"
	"github.com/kprobe/kprobe/probes/network"
	"github.com/kprobe/kprobe/probes/overlay"
	"github.com/kprobe/kprobe/probes/privileges"
	"github.com/kprobe/kprobe/probes/resources"
	"github.com/kprobe/kprobe/probes/sysctls"
	"github.com/kprobe/kprobe/probes/tools"
)

// All returns every probe, in output order.
func All() []probes.Probe {
	return []probes.Probe{
		identity.Probe{},
		kernel.Probe{},
		privileges.Probe{},
		filesystems.Probe{},
		filesystems.DirsProbe{},
		overlay.Probe{},
		mounts.Probe{},
		mounts.RShared{},
		cgroups.Probe{},
		cgroups.WriteProbe{},
		devices.Probe{},
		devices.MknodProbe{},
		container.Probe{},
		namespaces.Probe{},
		sysctls.Probe{},
		sysctls.WriteProbe{},
		network.Probe{},
		network.NetnsProbe{},
		resources.Probe{},
		tools.Probe{},
		tools.Versions{},
	}
}

// Ops returns the grandchild ops of every active probe.
func Ops() map[string]probes.Op {
	m := map[string]probes.Op{}
	for _, ops := range []map[string]probes.Op{
		container.Ops(),
		cgroups.Ops(),
		namespaces.Ops(),
		network.Ops(),
		overlay.Ops(),
		mounts.Ops(),
	} {
		for k, v := range ops {
			m[k] = v
		}
	}
	return m
}

var registerOnce sync.Once

// Register registers the re-exec entry points of the suite, once. main and
// TestMain call it before reexec.Init.
func Register() {
	registerOnce.Do(func() {
		probes.RegisterOps(Ops())
		probes.RegisterChildren(All())
	})
}
