package network

import (
	"bufio"
	"bytes"
	"io/fs"
	"net/netip"
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// CodeLocalhost: localhost does not lead to this machine.
var CodeLocalhost = probes.Code{Code: "KP-NET-018", Severity: probes.Warn,
	Title:   "localhost does not resolve to a loopback address",
	Meaning: "/etc/hosts has no line giving localhost 127.0.0.1 or ::1 (a sandbox with a bare or hand-made /etc): etcd, the API server's health checks, the kubelet and kubectl dial localhost and reach the wrong host or nothing.",
	Fix:     "add the loopback lines to the sandbox's /etc/hosts before kprobe launch: printf '127.0.0.1 localhost\\n::1 localhost\\n' >> /etc/hosts"}

// names reads /etc/hosts the way the resolvers do before asking DNS:
// does localhost map to loopback, and does the host name have a line.
// Without /etc/hosts both stay unknown: the resolvers then ask DNS or
// nss-myhostname, which answer localhost themselves.
func names(env *probes.Env, o *probes.Observation) {
	hostname := ""
	if b, err := fs.ReadFile(env.Root, "proc/sys/kernel/hostname"); err == nil {
		hostname = strings.TrimSpace(string(b))
	}
	b, err := fs.ReadFile(env.Root, "etc/hosts")
	if err != nil {
		o.Note("/etc/hosts", "", err)
		o.Set("net.localhost_loopback", probes.Unknown)
		o.Set("net.hostname_in_hosts", probes.Unknown)
		return
	}
	var local, other []string
	named := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		addr, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, n := range f[1:] {
			switch {
			case strings.EqualFold(n, "localhost") && addr.IsLoopback():
				local = append(local, f[0])
			case strings.EqualFold(n, "localhost"):
				other = append(other, f[0])
			case hostname != "" && strings.EqualFold(n, hostname):
				named = true
			}
		}
	}
	o.Set("net.localhost_loopback", probes.TriOf(len(local) > 0))
	o.Set("net.hostname_in_hosts", probes.TriOf(named))
	if len(local) == 0 {
		excerpt := "no line for localhost"
		if len(other) > 0 {
			excerpt = "localhost is " + strings.Join(other, ", ")
		}
		o.Find(CodeLocalhost, "localhost does not resolve to a loopback address in /etc/hosts ("+excerpt+")",
			probes.Evidence{Source: "/etc/hosts", Excerpt: excerpt})
	}
}
