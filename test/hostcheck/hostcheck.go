// Package hostcheck snapshots what kprobe could leave behind on a host
// (mounts, cgroups, network namespaces and links, iptables rules, nf_tables tables, sysctls,
// temp files, processes, fixed runtime directories) so tests can assert
// that a scan, a launch or a stop left it exactly as it was.
package hostcheck

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kprobe/kprobe/adapters/hoststate"
)

// State is one snapshot.
type State struct {
	Sets map[string][]string
}

// Options say what to watch besides the fixed set.
type Options struct {
	// Dirs are listed (one level): temp dirs, /var/lib.
	Dirs []string
	// Exe: processes running this executable (besides ours) count as
	// leftovers, as do live children of ours.
	Exe string
}

// Take snapshots the host.
func Take(o Options) State {
	s := State{Sets: map[string][]string{}}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			s.add("mounts", strings.Join(f[2:], " "))
		}
	}
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			s.add("cgroups", p)
		}
		return nil
	})
	for _, e := range list("/run/netns") {
		s.add("netns", e)
	}
	for _, e := range list("/sys/class/net") {
		s.add("links", e)
	}
	for _, bin := range []string{"iptables-save", "iptables-legacy-save", "ip6tables-save"} {
		if out, err := exec.Command(bin).Output(); err == nil {
			s.add("iptables", bin+" "+fmt.Sprintf("%x", sha256.Sum256([]byte(stripCounters(string(out))))))
		}
	}
	// nf_tables tables of any family: kube-network-policies' table is
	// inet, which no iptables-save lists.
	if out, err := exec.Command("nft", "list", "tables").Output(); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" {
				s.add("nftables", l)
			}
		}
	}
	// Every sysctl and fixed directory of the launch's host journal
	// (adapters/hoststate), so what stop must undo is what is checked.
	for _, k := range hoststate.ClusterSysctls() {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			s.add("sysctls", k+"="+strings.TrimSpace(string(b)))
		}
	}
	for _, d := range append(append([]string(nil), hoststate.FixedDirs...), o.Dirs...) {
		if _, err := os.Stat(d); err == nil {
			s.add("dirs", d)
		}
	}
	for _, d := range o.Dirs {
		for _, e := range list(d) {
			s.add("files", filepath.Join(d, e))
		}
	}
	self := strconv.Itoa(os.Getpid())
	for _, pid := range list("/proc") {
		if _, err := strconv.Atoi(pid); err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
		if err != nil {
			continue
		}
		st := string(stat)
		i := strings.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(st[i+1:])
		if len(f) < 2 || f[0] == "Z" { // zombies are the reaper's business
			continue
		}
		comm := st[strings.IndexByte(st, '(')+1 : i]
		exe, _ := os.Readlink(filepath.Join("/proc", pid, "exe"))
		switch {
		case f[1] == self:
			s.add("processes", pid+" child "+comm)
		case o.Exe != "" && exe == o.Exe:
			s.add("processes", pid+" "+exe)
		case clusterProcess(comm):
			s.add("processes", pid+" "+comm)
		}
	}
	for k := range s.Sets {
		sort.Strings(s.Sets[k])
	}
	return s
}

// clusterProcess matches the programs a launched cluster runs (comm is
// cut at 15 bytes: kprobe-node-agent is "kprobe-node-age", the
// supervisor kprobe-supervisor "kprobe-supervis").
func clusterProcess(comm string) bool {
	for _, p := range []string{"kube-", "kubelet", "etcd", "containerd", "pause", "runc", "kprobe-node-age", "kprobe-cluster", "kprobe-supervis"} {
		if strings.HasPrefix(comm, p) {
			return true
		}
	}
	return false
}

func (s *State) add(k, v string) { s.Sets[k] = append(s.Sets[k], v) }

// Diff describes what changed between two snapshots, "" when nothing did.
func Diff(before, after State) string {
	keys := map[string]bool{}
	for k := range before.Sets {
		keys[k] = true
	}
	for k := range after.Sets {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var out strings.Builder
	for _, k := range names {
		in := map[string]bool{}
		for _, x := range before.Sets[k] {
			in[x] = true
		}
		var added, removed []string
		for _, x := range after.Sets[k] {
			if !in[x] {
				added = append(added, x)
			}
			delete(in, x)
		}
		for x := range in {
			removed = append(removed, x)
		}
		sort.Strings(removed)
		if len(added)+len(removed) > 0 {
			fmt.Fprintf(&out, "%s: added %q, removed %q\n", k, added, removed)
		}
	}
	return out.String()
}

func list(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func stripCounters(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, ":") {
			l, _, _ = strings.Cut(l, " [")
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
