// Package network probes what a Kubernetes node needs from the network
// stack: interfaces, a default route and its MTU (flannel derives the pod
// MTU from it), the ports the control plane binds, and, actively inside a
// throwaway network namespace, whether veth, bridge and vxlan links can be
// created and whether iptables (nft or legacy) accepts the matches that
// kube-proxy and flannel use. Sandboxes differ most here: gVisor has no
// nf_tables netlink, containers without CAP_NET_ADMIN get EACCES, and
// network namespaces may be possible only inside a user namespace.
package network

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// Probe is the passive network probe.
type Probe struct{}

var _ probes.Probe = Probe{}

// Codes of the passive network probe.
var (
	CodePort6443 = probes.Code{Code: "KP-NET-001", Severity: probes.Block,
		Title:   "port 6443 is already in use",
		Meaning: "The Kubernetes API server listens on 6443; k3s and kube-apiserver exit with \"bind: address already in use\" when another process holds it.",
		Fix:     "stop the process holding port 6443 (ss -ltnp 'sport = :6443' names it); if it is a cluster kprobe launched, kprobe stop --data-dir DIR stops it"}
	CodePort10250 = probes.Code{Code: "KP-NET-002", Severity: probes.Warn,
		Title:   "kubelet port 10250 is already in use",
		Meaning: "The kubelet serves logs, exec and metrics on 10250; a second kubelet (or another k3s) on this machine holds it, and the new one fails to start.",
		Fix:     "stop the process holding port 10250 (usually another kubelet or k3s)"}
	CodePort2379 = probes.Code{Code: "KP-NET-003", Severity: probes.Warn,
		Title:   "etcd port 2379 is already in use",
		Meaning: "etcd (k3s --cluster-init, or an upstream control plane) and kine listen on 2379; k3s' default sqlite datastore does not need it.",
		Fix:     "stop the process holding port 2379 (ss -ltnp 'sport = :2379' names it), or, at TP or T3, move kprobe's ports: kprobe launch --port-offset 100"}
	CodeNoDefaultRoute = probes.Code{Code: "KP-NET-004", Severity: probes.Warn,
		Title:   "no default route",
		Meaning: "k3s and the kubelet pick the node IP from the default route and fail to start without one (sandboxes with --network=none have only lo).",
		Fix:     "ip link add dummy0 type dummy && ip link set dummy0 up && ip addr add 203.0.113.254/31 dev dummy0 && ip route add default via 203.0.113.255 dev dummy0 metric 1000"}
	CodePort2380 = probes.Code{Code: "KP-NET-006", Severity: probes.Warn,
		Title:   "etcd peer port 2380 is already in use",
		Meaning: "etcd (the upstream engine's datastore, k3s --cluster-init) listens for peers on 2380 and exits with \"bind: address already in use\" when another etcd holds it.",
		Fix:     "stop the process holding port 2380 (usually another etcd or cluster)"}
	CodePort10257 = probes.Code{Code: "KP-NET-007", Severity: probes.Warn,
		Title:   "controller-manager port 10257 is already in use",
		Meaning: "kube-controller-manager serves its health and metrics on 10257; another control plane on this machine holds it, and the new one fails to start.",
		Fix:     "stop the process holding port 10257 (usually another control plane)"}
	CodePort10259 = probes.Code{Code: "KP-NET-008", Severity: probes.Warn,
		Title:   "scheduler port 10259 is already in use",
		Meaning: "kube-scheduler serves its health and metrics on 10259; another control plane on this machine holds it, and the new one fails to start.",
		Fix:     "stop the process holding port 10259 (usually another control plane)"}
	CodeLoopbackDown = probes.Code{Code: "KP-NET-005", Severity: probes.Warn,
		Title:   "the loopback interface is down",
		Meaning: "A fresh network namespace (an LXC container with an empty network, unshare --net, a minimal VM) starts with lo down: etcd, the API server and the kubelet talk over 127.0.0.1 and get \"network is unreachable\".",
		Fix:     "nothing to do where kprobe has CAP_NET_ADMIN: kprobe launch brings lo up through netlink and kprobe stop sets it down again; without CAP_NET_ADMIN, bring lo up as root before launching (ip link set lo up)"}
	CodeRouteOverlap = probes.Code{Code: "KP-NET-017", Severity: probes.Warn,
		Title:   "a route leads into the cluster's pod or Service range",
		Meaning: "A route of this network namespace covers part of the ranges the cluster gives pods and Services (10.244.0.0/16 and 10.96.0.0/12; k3s 10.42.0.0/16 and 10.43.0.0/16), as a Docker network, a VPN or an outer cluster's routes do: traffic to those pods or Services leaves the node instead, or the sandbox's own network becomes unreachable from pods.",
		Fix:     "ip route show names the route; when nothing in the sandbox needs it, delete it before kprobe launch (ip route del PREFIX dev IFACE), else run the cluster where these ranges are free"}
)

// Ports are the ports the passive probe checks, with their codes.
var Ports = []struct {
	Port uint16
	Code probes.Code
	What string
}{
	{6443, CodePort6443, "the API server"},
	{10250, CodePort10250, "the kubelet"},
	{2379, CodePort2379, "etcd"},
	{2380, CodePort2380, "etcd's peers"},
	{10257, CodePort10257, "the controller manager"},
	{10259, CodePort10259, "the scheduler"},
}

func (Probe) ID() string            { return "network" }
func (Probe) Domain() probes.Domain { return probes.DomainNetwork }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code {
	return []probes.Code{CodePort6443, CodePort10250, CodePort2379, CodeNoDefaultRoute, CodeLoopbackDown,
		CodePort2380, CodePort10257, CodePort10259, CodeProxyCapture, CodeRouteOverlap, CodeLocalhost, CodeOuterEngine}
}

func (Probe) Facts() []probes.FactSpec {
	specs := []probes.FactSpec{
		{Key: "net.interfaces", Type: probes.TypeList, Doc: "network interfaces of this network namespace (/proc/net/dev)"},
		{Key: "net.lo_up", Type: probes.TypeTri, Doc: "lo is up: 127.0.0.1 is a local address in /proc/net/fib_trie (the kernel adds it when lo comes up)"},
		{Key: "net.proxy", Type: probes.TypeTri, Doc: "HTTP_PROXY, HTTPS_PROXY or ALL_PROXY is set in kprobe's environment"},
		{Key: "net.no_proxy_covers_cluster", Type: probes.TypeTri, Doc: "with a proxy set: NO_PROXY covers 127.0.0.1 and the pod and Service ranges"},
		{Key: "net.default_interface", Type: probes.TypeString, Doc: "interface of the default route (IPv4, else IPv6), \"\" when there is none"},
		{Key: "net.routes_into_cluster", Type: probes.TypeList, Doc: "IPv4 routes (/proc/net/route) that overlap the pod or Service ranges, as \"PREFIX dev IFACE (CLUSTER RANGE)\""},
		{Key: "net.localhost_loopback", Type: probes.TypeTri, Doc: "/etc/hosts gives localhost a loopback address (127.0.0.0/8 or ::1); unknown without /etc/hosts"},
		{Key: "net.hostname_in_hosts", Type: probes.TypeTri, Doc: "/etc/hosts has a line for the host name (/proc/sys/kernel/hostname); no means DNS or nss-myhostname must answer it; unknown without /etc/hosts"},
		{Key: "net.engine_sockets", Type: probes.TypeTri, Doc: "a Docker, containerd or podman API socket at its usual path accepts a connection (an outer engine reachable from the sandbox); unknown in a replayed capture"},
		{Key: "net.mtu", Type: probes.TypeInt, Doc: "MTU of the default route's interface, else the largest MTU of a non-lo interface"},
		{Key: "net.ip_forward", Type: probes.TypeTri, Doc: "/proc/sys/net/ipv4/ip_forward is 1"},
	}
	for _, p := range Ports {
		specs = append(specs, probes.FactSpec{Key: portKey(p.Port), Type: probes.TypeTri,
			Doc: fmt.Sprintf("no TCP socket listens on port %d (%s): sock_diag, or /proc/net/tcp and tcp6", p.Port, p.What)})
	}
	return specs
}

func portKey(port uint16) string { return fmt.Sprintf("net.port_%d_free", port) }

// Run reads /proc/net and /sys/class/net. The tables describe the network
// namespace of the reader, which is the one k3s would run in.
func (Probe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	ifaces := interfaces(env, o)
	loopbackUp(env, o)
	proxyEnv(env, o)
	defaultIface := defaultRoute(env, o)
	routesIntoCluster(env, o)
	names(env, o)
	outerEngine(env, o, "/")
	mtus(env, o, ifaces, defaultIface)
	ipForward(env, o)
	ports(env, o)
	o.Summary = summary(o.Facts)
	return o, nil
}

// summary says how this namespace reaches out and what is free: "4
// interfaces, default route via eth0 (MTU 1400), ip_forward off; ports
// 6443 10250 2379 free".
func summary(f probes.Facts) string {
	var parts []string
	if ifs, ok := f["net.interfaces"].([]string); ok {
		n := fmt.Sprintf("%d interfaces", len(ifs))
		if len(ifs) == 1 {
			n = "only " + ifs[0]
		}
		parts = append(parts, n)
	}
	if d, ok := f["net.default_interface"].(string); ok {
		route := "no default route"
		if d != "" {
			route = "default route via " + d
		}
		if mtu, ok := f.Int("net.mtu"); ok && d != "" {
			route += fmt.Sprintf(" (MTU %d)", mtu)
		}
		parts = append(parts, route)
	}
	if f.Tri("net.lo_up") == probes.No {
		parts = append(parts, "lo down")
	}
	if t := f.Tri("net.ip_forward"); t != probes.Unknown {
		parts = append(parts, "ip_forward "+map[probes.Tri]string{probes.Yes: "on", probes.No: "off"}[t])
	}
	var ports probes.Tally
	for _, p := range Ports {
		ports.Add(strconv.Itoa(int(p.Port)), map[probes.Tri]string{probes.Yes: "free", probes.No: "in use", probes.Unknown: "unknown"}[f.Tri(portKey(p.Port))])
	}
	return strings.Join(parts, ", ") + "; ports " + ports.String()
}

// loopbackUp reads the local routing table: the kernel gives lo
// 127.0.0.1 and its local route when lo comes up, so their absence means
// lo is down. (/sys/class/net/lo/flags would say it too, but sysfs shows
// the network namespace it was mounted in, often not ours.)
func loopbackUp(env *probes.Env, o *probes.Observation) {
	b, err := fs.ReadFile(env.Root, "proc/net/fib_trie")
	if err != nil {
		o.Note("/proc/net/fib_trie", "", err)
		o.Set("net.lo_up", probes.Unknown)
		return
	}
	up := LoopbackLocal(bytes.NewReader(b))
	o.Set("net.lo_up", probes.TriOf(up))
	if up {
		o.Note("/proc/net/fib_trie", "127.0.0.1/32 host LOCAL: lo is up", nil)
		return
	}
	o.Find(CodeLoopbackDown, "lo is down: no local 127.0.0.1 in the routing tables",
		probes.Evidence{Source: "/proc/net/fib_trie", Excerpt: "no 127.0.0.1 /32 host LOCAL entry"})
}

func interfaces(env *probes.Env, o *probes.Observation) []string {
	b, err := fs.ReadFile(env.Root, "proc/net/dev")
	if err == nil {
		names, perr := ParseNetDev(bytes.NewReader(b))
		if perr == nil && len(names) > 0 {
			o.Set("net.interfaces", names)
			o.Note("/proc/net/dev", strings.Join(names, " "), nil)
			return names
		}
		err = perr
	}
	o.Note("/proc/net/dev", "", err)
	// sysfs lists the interfaces of the namespace it was mounted in, which
	// is ours unless /sys is a bind of the host's: second best.
	ents, derr := fs.ReadDir(env.Root, "sys/class/net")
	if derr != nil {
		o.Note("/sys/class/net", "", derr)
		return nil
	}
	names := []string{}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	o.Set("net.interfaces", names)
	o.Note("/sys/class/net", strings.Join(names, " "), nil)
	return names
}

// routesIntoCluster reports the IPv4 routes, default route aside, that
// overlap ClusterRanges.
func routesIntoCluster(env *probes.Env, o *probes.Observation) {
	b, err := fs.ReadFile(env.Root, "proc/net/route")
	if err != nil {
		return // defaultRoute notes it
	}
	routes, err := ParseRoutes(bytes.NewReader(b))
	if err != nil {
		o.Note("/proc/net/route", "", err)
		return
	}
	hits := []string{}
	for _, r := range routes {
		if r.Dst.Bits() == 0 {
			continue
		}
		for _, c := range ClusterRanges {
			if cr := netip.MustParsePrefix(c); cr.Overlaps(r.Dst) {
				hits = append(hits, fmt.Sprintf("%s dev %s (%s)", r.Dst, r.Iface, c))
				break
			}
		}
	}
	o.Set("net.routes_into_cluster", hits)
	if len(hits) > 0 {
		o.Find(CodeRouteOverlap, "routes into the cluster's pod or Service range: "+strings.Join(hits, ", "),
			probes.Evidence{Source: "/proc/net/route", Excerpt: strings.Join(hits, "; ")})
	}
}

// defaultRoute sets net.default_interface and reports a missing default
// route when the route tables could be read.
func defaultRoute(env *probes.Env, o *probes.Observation) string {
	b, err := fs.ReadFile(env.Root, "proc/net/route")
	if err != nil {
		o.Note("/proc/net/route", "", err)
	}
	var v4 string
	if err == nil {
		v4, err = ParseRoute(bytes.NewReader(b))
	}
	v4Known := err == nil
	if v4 != "" {
		o.Set("net.default_interface", v4)
		o.Note("/proc/net/route", "default route via "+v4, nil)
		return v4
	}
	b6, err6 := fs.ReadFile(env.Root, "proc/net/ipv6_route")
	var v6 string
	if err6 == nil {
		v6, err6 = ParseIPv6Route(bytes.NewReader(b6))
	} else if probes.Errno(err6) != "ENOENT" {
		o.Note("/proc/net/ipv6_route", "", err6)
	}
	if v6 != "" {
		o.Set("net.default_interface", v6)
		o.Note("/proc/net/ipv6_route", "default route via "+v6, nil)
		return v6
	}
	v6Known := err6 == nil || probes.Errno(err6) == "ENOENT"
	if v4Known && v6Known {
		o.Set("net.default_interface", "")
		o.Find(CodeNoDefaultRoute, "no default route in /proc/net/route or /proc/net/ipv6_route",
			probes.Evidence{Source: "/proc/net/route", Excerpt: "no 00000000/00000000 route with RTF_UP"})
	}
	return ""
}

func mtus(env *probes.Env, o *probes.Observation, ifaces []string, defaultIface string) {
	var parts []string
	best, bestName := int64(-1), ""
	var defMTU int64 = -1
	for _, name := range ifaces {
		if !fs.ValidPath("sys/class/net/" + name) {
			continue
		}
		b, err := fs.ReadFile(env.Root, "sys/class/net/"+name+"/mtu")
		if err != nil {
			parts = append(parts, name+"=?("+probes.Errno(err)+")")
			continue
		}
		mtu, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || mtu <= 0 {
			parts = append(parts, name+"=?")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, mtu))
		if name == defaultIface {
			defMTU = mtu
		}
		if name != "lo" && mtu > best {
			best, bestName = mtu, name
		}
	}
	if len(parts) > 0 {
		o.Note("/sys/class/net/*/mtu", strings.Join(parts, " "), nil)
	}
	switch {
	case defMTU > 0:
		o.Set("net.mtu", defMTU)
	case best > 0:
		o.Set("net.mtu", best)
		o.Note("net.mtu", "largest non-lo MTU, of "+bestName, nil)
	}
}

func ipForward(env *probes.Env, o *probes.Observation) {
	b, err := fs.ReadFile(env.Root, "proc/sys/net/ipv4/ip_forward")
	if err != nil {
		o.Note("/proc/sys/net/ipv4/ip_forward", "", err)
		o.Set("net.ip_forward", probes.Unknown)
		return
	}
	v := strings.TrimSpace(string(b))
	o.Note("/proc/sys/net/ipv4/ip_forward", v, nil)
	switch v {
	case "1":
		o.Set("net.ip_forward", probes.Yes)
	case "0":
		o.Set("net.ip_forward", probes.No)
	default:
		o.Set("net.ip_forward", probes.Unknown)
	}
}

// ports decides each port from the kernel's listening sockets: through
// sock_diag where the Syscalls has it (live), else from /proc/net/tcp and
// tcp6. A port is free only when every table could be read (a missing tcp6
// means no IPv6); a listener found in any table makes it taken.
func ports(env *probes.Env, o *probes.Observation) {
	all, source, known := listeners(env, o)
	taken := map[uint16][]Listener{}
	inodes := map[uint64]bool{}
	for _, l := range all {
		for _, p := range Ports {
			if l.Port == p.Port {
				taken[p.Port] = append(taken[p.Port], l)
				inodes[l.Inode] = true
			}
		}
	}
	var owners map[uint64]string
	if len(inodes) > 0 {
		owners = socketOwners(env, inodes)
	}
	for _, p := range Ports {
		ls := taken[p.Port]
		switch {
		case len(ls) > 0:
			o.Set(portKey(p.Port), probes.No)
			var who []string
			var pids []string
			for _, l := range ls {
				s := l.String() + " uid " + strconv.Itoa(l.UID)
				if ow := owners[l.Inode]; ow != "" {
					s += " " + ow
					pids = append(pids, strings.Fields(ow)[1])
				}
				who = append(who, s)
			}
			ev := probes.Evidence{Source: source, Excerpt: "LISTEN " + strings.Join(who, ", ")}
			if cluster := ownedBy(env, ls, owners); cluster != "" {
				// kprobe's own cluster: reported, never a blocker.
				o.FindFix(p.Code, fmt.Sprintf("port %d (%s) is held by %s: %s", p.Port, p.What, cluster, strings.Join(who, ", ")), ev,
					"nothing to do: it is kprobe's own; a second cluster needs the first one stopped (kprobe stop --data-dir DIR)")
				o.Findings[len(o.Findings)-1].Ignored = true
				o.Findings[len(o.Findings)-1].Own = true
				continue
			}
			fix := p.Code.Fix
			if len(pids) > 0 {
				fix = fmt.Sprintf("kill %s (the process listening on %d), or %s", strings.Join(dedupe(pids), " "), p.Port, alternative(p.Port))
			}
			o.FindFix(p.Code, fmt.Sprintf("port %d (%s) is in use: %s", p.Port, p.What, strings.Join(who, ", ")), ev, fix)
		case known:
			o.Set(portKey(p.Port), probes.Yes)
		default:
			o.Set(portKey(p.Port), probes.Unknown)
		}
	}
}

// listenSource names the sock_diag answer in evidence, with the command
// that shows the same table.
const listenSource = "sock_diag TCP LISTEN (ss -ltn)"

// listeners returns the TCP sockets in LISTEN state of the reader's network
// namespace, where they come from, and whether the list is complete. The
// kernel's sock_diag answers where env.Sys has it; when it fails, the
// failure is noted and /proc/net/tcp and tcp6 decide, as they do in a
// capture and its replay.
func listeners(env *probes.Env, o *probes.Observation) ([]Listener, string, bool) {
	if ls, ok := env.Sys.(probes.ListenerSys); ok {
		socks, err := ls.TCPListeners()
		if err == nil {
			out := make([]Listener, 0, len(socks))
			for _, s := range socks {
				out = append(out, Listener{IP: net.IP(s.IP.AsSlice()).String(), Port: s.Port, UID: int(s.UID), Inode: s.Inode})
			}
			return out, listenSource, true
		}
		o.Note(listenSource, "", err)
	}
	var all []Listener
	known, readAny := true, false
	for _, p := range []string{"proc/net/tcp", "proc/net/tcp6"} {
		b, err := fs.ReadFile(env.Root, p)
		if err != nil {
			if probes.Errno(err) != "ENOENT" || p == "proc/net/tcp" {
				known = false
			}
			o.Note("/"+p, "", err)
			continue
		}
		ls, err := ParseTCPListeners(bytes.NewReader(b))
		if err != nil {
			known = false
			o.Note("/"+p, "", err)
			continue
		}
		readAny = true
		all = append(all, ls...)
	}
	return all, "/proc/net/tcp{,6}", known && readAny
}

// ownedBy names the kprobe cluster that owns every listener of ls, or ""
// when one of them is someone else's (or its owner is unknown).
func ownedBy(env *probes.Env, ls []Listener, owners map[uint64]string) string {
	if env.Own == nil {
		return ""
	}
	cluster := ""
	for _, l := range ls {
		f := strings.Fields(owners[l.Inode]) // "pid N (comm)"
		if len(f) < 2 {
			return ""
		}
		pid, err := strconv.Atoi(f[1])
		if err != nil {
			return ""
		}
		c := env.Own(pid)
		if c == "" || (cluster != "" && c != cluster) {
			return ""
		}
		cluster = c
	}
	return cluster
}

// alternative says how to free a port kprobe's engines need: what holds
// it may be a cluster kprobe launched before (no port can be moved yet).
func alternative(port uint16) string {
	what := "the other cluster"
	switch port {
	case 6443:
		what = "the other API server"
	case 2379, 2380:
		what = "the other etcd"
	case 10250:
		what = "the other kubelet"
	}
	return "stop " + what + " first (a cluster kprobe launched: kprobe stop --data-dir DIR)"
}

func dedupe(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// maxProcScan bounds the /proc/<pid>/fd walk that names a port's owner.
const maxProcScan = 8192

// socketOwners maps socket inodes to "pid <pid> (<comm>)" by reading the
// /proc/<pid>/fd links. It only runs when a port is taken; processes we may
// not inspect are skipped.
func socketOwners(env *probes.Env, inodes map[uint64]bool) map[uint64]string {
	out := map[uint64]string{}
	ents, err := fs.ReadDir(env.Root, "proc")
	if err != nil {
		return out
	}
	seen := 0
	for _, e := range ents {
		pid := e.Name()
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		if seen++; seen > maxProcScan || len(out) == len(inodes) {
			break
		}
		fds, err := fs.ReadDir(env.Root, "proc/"+pid+"/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			target, err := fs.ReadLink(env.Root, "proc/"+pid+"/fd/"+fd.Name())
			if err != nil {
				continue
			}
			num, ok := strings.CutPrefix(target, "socket:[")
			if !ok {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(num, "]"), 10, 64)
			if err != nil || !inodes[ino] {
				continue
			}
			comm, _ := fs.ReadFile(env.Root, "proc/"+pid+"/comm")
			out[ino] = fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(comm)))
		}
	}
	return out
}
