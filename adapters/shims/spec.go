package shims

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Mode is a rewrite's setting: auto decides from HostFacts.
type Mode string

const (
	Auto Mode = "auto"
	Drop Mode = "drop"
	Keep Mode = "keep"
)

func (m Mode) valid() bool { return m == Auto || m == Drop || m == Keep }

// WrapperOptions choose what RewriteSpec changes.
type WrapperOptions struct {
	// CgroupNS: auto drops the cgroup namespace where the kernel has
	// none (gVisor: "cgroup namespaces aren't enabled in the kernel").
	CgroupNS Mode `json:"cgroupns"`
	// OOMScoreAdj: auto drops process.oomScoreAdj where it cannot be
	// set (no /proc/self/oom_score_adj, or lower than ours without
	// CAP_SYS_RESOURCE: runc's "can't get final child's PID from pipe").
	OOMScoreAdj Mode `json:"oomScoreAdj"`
	// Sysctls: auto drops linux.sysctl entries that have no /proc/sys
	// file here (gVisor lacks most; runc fails on them).
	Sysctls Mode `json:"sysctls"`
	// IgnoreCgroups drops what makes runc configure cgroups for the
	// container (resources, cgroupsPath, cgroup mounts and namespace), in
	// the spirit of runsc --ignore-cgroups. runc still places the
	// container in a cgroup of its own.
	IgnoreCgroups bool `json:"ignoreCgroups"`
	// RuntimeFlags are global flags put before the runtime's subcommand
	// (for runsc: --ignore-cgroups, --platform=ptrace...).
	RuntimeFlags []string `json:"runtimeFlags,omitempty"`
}

// DefaultWrapperOptions decides everything from the host.
func DefaultWrapperOptions() WrapperOptions {
	return WrapperOptions{CgroupNS: Auto, OOMScoreAdj: Auto, Sysctls: Auto}
}

func (o WrapperOptions) validate() error {
	for name, m := range map[string]Mode{"cgroupns": o.CgroupNS, "oom-score-adj": o.OOMScoreAdj, "sysctls": o.Sysctls} {
		if !m.valid() {
			return fmt.Errorf("--%s=%q: want auto, drop or keep", name, m)
		}
	}
	return nil
}

// HostFacts are what the auto modes decide on; HostFactsNow reads them.
type HostFacts struct {
	CgroupNS bool // /proc/self/ns/cgroup exists
	// OOMScoreAdj is this process's; OOMScoreAdjWritable whether
	// /proc/self/oom_score_adj can be written at all.
	OOMScoreAdj         int
	OOMScoreAdjWritable bool
	CapSysResource      bool
	// SysctlExists reports whether /proc/sys has the entry (dotted name);
	// nil means every entry exists.
	SysctlExists func(name string) bool
	// GIDMapped and UIDMapped report whether an id is mapped in this user
	// namespace; nil means every id is.
	GIDMapped func(gid uint32) bool
	UIDMapped func(uid uint32) bool
}

// RewriteSpec changes s in place as o and h say and returns what it
// changed, one line each (empty: nothing). It is pure: it reads nothing
// but its arguments.
func RewriteSpec(s *specs.Spec, o WrapperOptions, h HostFacts) []string {
	var ch []string
	if s == nil {
		return nil
	}
	// A process user that is not mapped (the pause image runs as 65535)
	// makes runc fail with "unable to setup user: invalid argument" in a
	// user namespace that maps only our own ids: run it as root of the
	// namespace, which is still unprivileged outside.
	if p := s.Process; p != nil && h.UIDMapped != nil && h.GIDMapped != nil {
		if !h.UIDMapped(p.User.UID) || !h.GIDMapped(p.User.GID) {
			ch = append(ch, fmt.Sprintf("ran the process as 0:0 instead of %d:%d (not mapped in this user namespace)", p.User.UID, p.User.GID))
			p.User.UID, p.User.GID = 0, 0
		}
		var gids []uint32
		for _, g := range p.User.AdditionalGids {
			if h.GIDMapped(g) {
				gids = append(gids, g)
			}
		}
		if len(gids) != len(p.User.AdditionalGids) {
			ch = append(ch, "dropped additional gids not mapped in this user namespace")
			p.User.AdditionalGids = gids
		}
	}
	// devpts with gid=5 (tty) fails with EINVAL in a user namespace that
	// maps only our own gid (unshare --map-root-user): drop the option.
	if h.GIDMapped != nil {
		for i := range s.Mounts {
			m := &s.Mounts[i]
			if m.Type != "devpts" {
				continue
			}
			var keep []string
			for _, opt := range m.Options {
				if gid, ok := strings.CutPrefix(opt, "gid="); ok {
					if n, err := strconv.ParseUint(gid, 10, 32); err == nil && !h.GIDMapped(uint32(n)) {
						ch = append(ch, "dropped "+opt+" from the devpts mount (gid not mapped in this user namespace)")
						continue
					}
				}
				keep = append(keep, opt)
			}
			m.Options = keep
		}
	}
	if s.Linux != nil {
		dropNS := o.CgroupNS == Drop || (o.CgroupNS == Auto && !h.CgroupNS) || o.IgnoreCgroups
		if dropNS {
			var keep []specs.LinuxNamespace
			for _, ns := range s.Linux.Namespaces {
				if ns.Type == specs.CgroupNamespace {
					why := "the kernel has no cgroup namespace"
					if o.CgroupNS == Drop || h.CgroupNS {
						why = "asked to"
					}
					ch = append(ch, "dropped the cgroup namespace ("+why+")")
					continue
				}
				keep = append(keep, ns)
			}
			s.Linux.Namespaces = keep
		}
		if len(s.Linux.Sysctl) > 0 && (o.Sysctls == Drop || (o.Sysctls == Auto && h.SysctlExists != nil)) {
			var dropped []string
			for k := range s.Linux.Sysctl {
				if o.Sysctls == Drop || !h.SysctlExists(k) {
					dropped = append(dropped, k)
					delete(s.Linux.Sysctl, k)
				}
			}
			if len(dropped) > 0 {
				sort.Strings(dropped)
				why := "no /proc/sys entry here"
				if o.Sysctls == Drop {
					why = "asked to"
				}
				ch = append(ch, fmt.Sprintf("dropped sysctls %s (%s)", strings.Join(dropped, ","), why))
			}
		}
		if o.IgnoreCgroups {
			if s.Linux.Resources != nil {
				s.Linux.Resources = nil
				ch = append(ch, "dropped linux.resources (ignore cgroups)")
			}
			if s.Linux.CgroupsPath != "" {
				ch = append(ch, "dropped cgroupsPath "+s.Linux.CgroupsPath+" (ignore cgroups)")
				s.Linux.CgroupsPath = ""
			}
		}
	}
	if o.IgnoreCgroups {
		var keep []specs.Mount
		for _, m := range s.Mounts {
			if m.Type == "cgroup" || m.Type == "cgroup2" {
				ch = append(ch, "dropped the "+m.Type+" mount on "+m.Destination+" (ignore cgroups)")
				continue
			}
			keep = append(keep, m)
		}
		s.Mounts = keep
	}
	if p := s.Process; p != nil && p.OOMScoreAdj != nil {
		v := *p.OOMScoreAdj
		drop := o.OOMScoreAdj == Drop
		why := "asked to"
		if o.OOMScoreAdj == Auto {
			switch {
			case !h.OOMScoreAdjWritable:
				drop, why = true, "oom_score_adj cannot be written here"
			case v < h.OOMScoreAdj && !h.CapSysResource:
				drop, why = true, fmt.Sprintf("lowering it below %d needs CAP_SYS_RESOURCE", h.OOMScoreAdj)
			}
		}
		if drop {
			p.OOMScoreAdj = nil
			ch = append(ch, fmt.Sprintf("dropped oomScoreAdj %d (%s)", v, why))
		}
	}
	return ch
}
