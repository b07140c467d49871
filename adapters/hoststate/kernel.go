package hoststate

import (
	"fmt"
	"os"
	"strings"

	"github.com/kprobe/kprobe/probes/sysctls"
)

// netSysctls are the sysctls the network components flip: the bridge
// plugin sets ip_forward, kube-proxy route_localnet and
// bridge-nf-call-iptables.
var netSysctls = []string{
	"net/ipv4/ip_forward",
	"net/ipv4/conf/all/route_localnet",
	"net/bridge/bridge-nf-call-iptables",
	"net/bridge/bridge-nf-call-ip6tables",
}

// ClusterSysctls lists, as paths under /proc/sys, every sysctl a cluster
// may change: the network components' and the kubelet's
// (probes/sysctls.KubeletTunables). The journal records them before a
// launch and stop puts them back; test/hostcheck compares them.
func ClusterSysctls() []string {
	out := append([]string(nil), netSysctls...)
	for _, t := range sysctls.KubeletTunables {
		out = append(out, sysctlPath(t.Name))
	}
	return out
}

func sysctlPath(dotted string) string { return strings.ReplaceAll(dotted, ".", "/") }

// procSys is where sysctls are read and written; tests point it elsewhere.
var procSys = "/proc/sys/"

func readSysctl(k string) (string, error) {
	b, err := os.ReadFile(procSys + k)
	return strings.TrimSpace(string(b)), err
}

// ApplyKubeletSysctls sets the kubelet's kernel tunables itself, before
// the kubelet starts, so that they are journaled (the snapshot holds the
// values before, KernelSet what was written) and the kubelet, run with
// protectKernelDefaults, only checks them. It returns whether every
// tunable now has the kubelet's value; where one cannot be written (a
// read-only or emulated /proc/sys) the launch leaves the kubelet as the
// plan configures it. save is called before each write, so a crash never
// loses a value to restore.
func (s *Snapshot) ApplyKubeletSysctls(save func() error) (all bool, notes []string, err error) {
	all = true
	for _, t := range sysctls.KubeletTunables {
		k, want := sysctlPath(t.Name), fmt.Sprint(t.Want)
		cur, rerr := readSysctl(k)
		if rerr != nil {
			all = false
			notes = append(notes, fmt.Sprintf("%s cannot be read: %v", t.Name, rerr))
			continue
		}
		if cur == want {
			continue
		}
		if s.KernelSet == nil {
			s.KernelSet = map[string]string{}
		}
		s.KernelSet[k] = want
		if err := save(); err != nil {
			return false, notes, err
		}
		if werr := os.WriteFile(procSys+k, []byte(want), 0o644); werr != nil {
			delete(s.KernelSet, k)
			all = false
			notes = append(notes, fmt.Sprintf("%s=%s cannot be set to %s: %v", t.Name, cur, want, werr))
			continue
		}
		notes = append(notes, fmt.Sprintf("set %s=%s (was %s; stop restores it)", t.Name, want, cur))
	}
	return all, notes, save()
}

// restoreSysctls puts back every recorded sysctl that differs now.
func (s *Snapshot) restoreSysctls(note func(string, ...any), fail func(error)) {
	for _, k := range sortedKeys(s.Sysctls) {
		v := s.Sysctls[k]
		cur, err := readSysctl(k)
		if err != nil || cur == v {
			continue
		}
		if err := os.WriteFile(procSys+k, []byte(v), 0o644); err != nil {
			fail(fmt.Errorf("restore %s=%s (now %s): %w", strings.ReplaceAll(k, "/", "."), v, cur, err))
			continue
		}
		note("restored %s=%s (was %s)", strings.ReplaceAll(k, "/", "."), v, cur)
	}
}
