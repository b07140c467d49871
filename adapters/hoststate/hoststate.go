// Package hoststate records what a cluster may change on the host and
// undoes it: the components write outside their data dir (iptables
// chains, a bridge, /run/netns entries, mounts, kubepods cgroups,
// sysctls; research/real-cluster.md lists them). A Snapshot taken before
// launch is what `kprobe stop` restores, touching only what appeared since
// and only what the cluster's components are known to create.
package hoststate

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kprobe/kprobe/probes/procfs"
)

// Snapshot is the host as it was before a launch.
type Snapshot struct {
	Taken time.Time `json:"taken"`
	// Sysctls are ClusterSysctls' values before the launch.
	Sysctls map[string]string `json:"sysctls"`
	// KernelSet is what launch itself wrote (ApplyKubeletSysctls).
	KernelSet map[string]string `json:"kernelSet,omitempty"`
	// Chains are the chains of each table, by command: "iptables" ->
	// "filter" -> names. Tables are the tables that existed.
	Chains  map[string]map[string][]string `json:"chains"`
	Tables  map[string][]string            `json:"tables"`
	Links   []string                       `json:"links"`
	Netns   []string                       `json:"netns"`
	Mounts  []string                       `json:"mounts"`
	Cgroups []string                       `json:"cgroups"`
	// CgroupRoots are the kubelet cgroup roots launch made below the
	// sandbox's own cgroup (MakeNestedCgroupRoot): stop removes them and
	// what the kubelet made below them.
	CgroupRoots []string `json:"cgroupRoots,omitempty"`
	// Dirs are the fixed host directories the components create, and
	// whether each existed.
	Dirs map[string]bool `json:"dirs"`
	// Entries are the entries of the per-container directories that
	// existed (dirs.go).
	Entries map[string][]string `json:"entries,omitempty"`
	// LoopbackDown records that launch brought lo up (a fresh network
	// namespace starts with it down: etcd then gets "network is
	// unreachable" on 127.0.0.1); stop sets it down again.
	LoopbackDown bool `json:"loopbackDown,omitempty"`
	// LoopbackAddr is the address AddressOnLoopback added to lo; stop
	// deletes it.
	LoopbackAddr string `json:"loopbackAddr,omitempty"`
	// Modules are the kernel modules launch loaded (LoadModule): stop
	// unloads each one that nothing uses.
	Modules []string `json:"modules,omitempty"`
}

// StandInAddress is the TEST-NET-3 address a network namespace without
// one gets, on a veth (EnsureAddress) or on lo (AddressOnLoopback).
const StandInAddress = "203.0.113.254"

// DummyLink is the interface EnsureAddress creates in a network namespace
// that has only lo.
const DummyLink = "kprobe-dummy0"

// EnsureAddress gives a network namespace that has no address but
// loopback one the control plane can advertise: the API server refuses a
// loopback advertise address ("may not be in the loopback range"). It
// follows k3s's documented air-gap recipe: a dummy interface with a
// TEST-NET-3 address and a default route through it. The link is new, so
// stop deletes it (and its veth peer with it).
func EnsureAddress(ctx context.Context) (bool, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return false, err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 || i.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLinkLocalUnicast() {
				return false, nil
			}
		}
	}
	// A veth pair, not a dummy link: kernels without the dummy module
	// (this project's VMs) have veth.
	if err := addStandInVeth(); err != nil {
		return false, fmt.Errorf("no address but loopback, and %w", err)
	}
	return true, nil
}

// AddressOnLoopback adds StandInAddress to lo, where no link can be
// created but addresses can be added (gVisor's netstack with
// CAP_NET_ADMIN): the API server and the kubelet refuse a loopback
// address, not a TEST-NET one on lo. Recorded in the snapshot.
func (s *Snapshot) AddressOnLoopback(ctx context.Context) error {
	if err := addrChange("lo", StandInAddress+"/32", true); err != nil {
		return fmt.Errorf("add %s/32 to lo: %w", StandInAddress, err)
	}
	s.LoopbackAddr = StandInAddress
	return nil
}

// LoopbackUp brings lo up when it is down and records it in the snapshot.
func (s *Snapshot) LoopbackUp(ctx context.Context) error {
	ifc, err := net.InterfaceByName("lo")
	if err != nil || ifc.Flags&net.FlagUp != 0 {
		return nil
	}
	if err := setLink("lo", true); err != nil {
		return fmt.Errorf("the loopback interface is down and cannot be brought up (netlink: set lo up: %w)", err)
	}
	s.LoopbackDown = true
	return nil
}

// Take records the host's current state.
func Take(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{Taken: time.Now(), Sysctls: map[string]string{}, Chains: map[string]map[string][]string{}, Tables: map[string][]string{}}
	for _, k := range ClusterSysctls() {
		if v, err := readSysctl(k); err == nil {
			s.Sysctls[k] = v
		}
	}
	for _, bin := range iptablesBins {
		tables, err := listTables(ctx, bin)
		if err != nil {
			continue // no such command: the cluster cannot use it either
		}
		s.Tables[bin] = tables
		s.Chains[bin] = map[string][]string{}
		for _, t := range iptablesTables {
			if chains, err := listChains(ctx, bin, t); err == nil {
				s.Chains[bin][t] = chains
			}
		}
	}
	s.Links = listDir("/sys/class/net")
	s.Netns = listDir("/run/netns")
	s.Mounts = mountpoints()
	s.Cgroups = kubepodsCgroups(nil)
	s.takeDirs()
	return s, nil
}

// Save writes the snapshot as JSON.
func (s *Snapshot) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Load reads a saved snapshot.
func Load(path string) (*Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Snapshot
	return &s, json.Unmarshal(b, &s)
}

// Scope says which new objects belong to the cluster.
type Scope struct {
	// DataDir: mounts below it are the cluster's.
	DataDir string
	// Bridge is the CNI bridge's name.
	Bridge string
	// CNINetwork is the CNI network's name (libcni names its cached
	// results after it).
	CNINetwork string
}

// Undo reverts what appeared since the snapshot within scope and returns
// one line per action, and the errors met (it goes on after an error).
func (s *Snapshot) Undo(ctx context.Context, sc Scope) (done []string, errs []error) {
	note := func(format string, a ...any) { done = append(done, fmt.Sprintf(format, a...)) }
	fail := func(err error) { errs = append(errs, err) }

	// Mounts first (deepest first): pod volumes, netns bind mounts,
	// containerd's rootfs mounts.
	before := set(s.Mounts)
	var mounts []string
	for _, m := range mountpoints() {
		if !before[m] && ours(m, sc) {
			mounts = append(mounts, m)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		if err := unmount(m); err != nil {
			fail(fmt.Errorf("unmount %s: %w", m, err))
			continue
		}
		note("unmounted %s", m)
	}
	oldNS := set(s.Netns)
	for _, n := range listDir("/run/netns") {
		if !oldNS[n] && ourNetns(n) {
			p := filepath.Join("/run/netns", n)
			_ = unmount(p)
			if err := os.Remove(p); err != nil {
				fail(err)
				continue
			}
			note("removed netns %s", n)
		}
	}
	oldLinks := set(s.Links)
	for _, l := range listDir("/sys/class/net") {
		if oldLinks[l] || !ourLink(l, sc) {
			continue
		}
		if err := deleteLink(l); err != nil {
			// A veth vanishes with its peer's netns: not an error.
			if _, statErr := os.Stat("/sys/class/net/" + l); statErr == nil {
				fail(fmt.Errorf("delete link %s: %w", l, err))
			}
			continue
		}
		note("deleted link %s", l)
	}
	d, e := s.undoIptables(ctx)
	done, errs = append(done, d...), append(errs, e...)
	oldCg := set(s.Cgroups)
	cgs := kubepodsCgroups(s.NestedCgroupRoots())
	sort.Slice(cgs, func(i, j int) bool { return len(cgs[i]) > len(cgs[j]) })
	removed := 0
	for _, c := range cgs {
		if oldCg[c] {
			continue
		}
		if err := os.Remove(c); err != nil && !os.IsNotExist(err) {
			fail(fmt.Errorf("rmdir %s: %w", c, err))
			continue
		}
		removed++
	}
	if removed > 0 {
		note("removed %d kubepods cgroups", removed)
	}
	s.undoDirs(sc, note, fail)
	s.undoLoopback(note, fail)
	s.restoreSysctls(note, fail)
	s.unloadModules(note, fail)
	return done, errs
}

// undoLoopback deletes the stand-in address from lo and sets lo down
// again, as the snapshot journaled them.
func (s *Snapshot) undoLoopback(note func(string, ...any), fail func(error)) {
	if s.LoopbackAddr != "" {
		if err := addrChange("lo", s.LoopbackAddr+"/32", false); err != nil {
			fail(fmt.Errorf("delete %s/32 from lo: %w", s.LoopbackAddr, err))
		} else {
			note("deleted %s from lo", s.LoopbackAddr)
		}
	}
	if s.LoopbackDown {
		if err := setLink("lo", false); err != nil {
			fail(fmt.Errorf("set lo down: %w", err))
		} else {
			note("set lo down again")
		}
	}
}

// ours says whether a new mount belongs to the cluster: below its data
// dir, containerd's and the kubelet's fixed paths, or CNI's netns files.
func ours(m string, sc Scope) bool {
	for _, p := range []string{sc.DataDir, "/run/containerd", "/run/netns", "/var/lib/kubelet"} {
		if p != "" && (m == p || strings.HasPrefix(m, strings.TrimSuffix(p, "/")+"/")) {
			return true
		}
	}
	// Sockets of data dirs whose path is too long (upstream.ContainerdSocket).
	return strings.HasPrefix(m, "/run/kprobe-")
}

func set(l []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range l {
		m[x] = true
	}
	return m
}

func listDir(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// mountpoints lists the mount points of this mount namespace.
func mountpoints() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	// A malformed line is skipped; the others still count.
	ms, _ := procfs.ParseMountinfo(f)
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Mountpoint)
	}
	return out
}

// kubepodsCgroups lists the kubelet's cgroup directories (v1 hierarchies
// and the unified one), the workers' cgroup roots and the nested roots
// included.
func kubepodsCgroups(nested []string) []string {
	var out []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods*")
	more, _ := filepath.Glob("/sys/fs/cgroup/kubepods*")
	for _, r := range append(append(append(roots, more...), nodeCgroupRoots()...), nestedCgroups(nested)...) {
		_ = filepath.WalkDir(r, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}
