package podnode

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kprobe/kprobe/adapters/svcproxy"
)

// Pod networking on a process-pod node: pods share the sandbox's network,
// so a pod's IP is an address of the pod CIDR for the cluster's books
// (EndpointSlices, which refuse loopback addresses), reached in the
// sandbox on its loopback mirror (svcproxy.Mirror); Services answer on
// loopback ClusterIPs through the agent's proxy (adapters/svcproxy).

// podAddrs hands out pod IPs from the pod CIDR, one per pod UID.
type podAddrs struct {
	mu     sync.Mutex
	prefix netip.Prefix
	next   netip.Addr
	byUID  map[types.UID]netip.Addr
	used   map[netip.Addr]bool
}

func newPodAddrs(cidr string) (*podAddrs, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return nil, fmt.Errorf("pod CIDR %q: an IPv4 range of at least 4 addresses is needed", cidr)
	}
	p = p.Masked()
	// .0 is the network, .1 the bridge's by convention.
	return &podAddrs{prefix: p, next: p.Addr().Next().Next(), byUID: map[types.UID]netip.Addr{}, used: map[netip.Addr]bool{}}, nil
}

// get is the pod's address, allocated on first use; invalid when the
// range is full.
func (a *podAddrs) get(uid types.UID) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.byUID[uid]; ok {
		return ip
	}
	for ip, n := a.next, 0; n < 1<<(32-a.prefix.Bits()); ip, n = ip.Next(), n+1 {
		if !a.prefix.Contains(ip) || ip == a.prefix.Addr() || ip == a.prefix.Addr().Next() {
			ip = a.prefix.Addr().Next()
			continue
		}
		if !a.used[ip] {
			a.used[ip], a.byUID[uid], a.next = true, ip, ip.Next()
			return ip
		}
	}
	return netip.Addr{}
}

func (a *podAddrs) release(uid types.UID) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.byUID[uid]; ok {
		delete(a.used, ip)
		delete(a.byUID, uid)
	}
}

// podIP is the pod's address in its status: its own from the pod CIDR,
// or the node's for a hostNetwork pod or an agent without a pod CIDR.
func (r *podRun) podIP() string {
	if !r.pod.Spec.HostNetwork {
		if ip := r.prov.cfg.addrs.get(r.pod.UID); ip.IsValid() {
			return ip.String()
		}
	}
	return r.prov.cfg.nodeIP
}

// ownAddr is the address the pod's processes bind and reach as
// localhost (bindtrace), or "" where binds are not rewritten.
func (r *podRun) ownAddr() string {
	if !r.prov.cfg.ownBinds || r.pod.Spec.HostNetwork {
		return ""
	}
	return r.localIP()
}

// probeHost is where the probes of a pod dial by default: the kubelet
// dials the pod IP; here the pod's own address where binds go there.
func (r *podRun) probeHost() string {
	if a := r.ownAddr(); a != "" {
		return a
	}
	return "127.0.0.1"
}

// localIP is where the pod's address is reached in the sandbox: its
// loopback mirror (the node's address for hostNetwork pods).
func (r *podRun) localIP() string {
	ip, err := netip.ParseAddr(r.podIP())
	if err != nil || r.podIP() == r.prov.cfg.nodeIP {
		return r.prov.cfg.nodeIP
	}
	return svcproxy.Mirror(ip).String()
}

// checkPorts warns, naming the port, when another pod of the node
// declares one of this pod's container ports: the ports are the
// sandbox's, so the second process to bind one gets "address already in
// use".
func (r *podRun) checkPorts() {
	if r.prov.cfg.ownBinds {
		return
	}
	type port struct {
		n     int32
		proto corev1.Protocol
	}
	mine := map[port]bool{}
	for _, c := range r.pod.Spec.Containers {
		for _, p := range c.Ports {
			mine[port{p.ContainerPort, protoOf(p.Protocol)}] = true
		}
	}
	if len(mine) == 0 {
		return
	}
	r.prov.mu.Lock()
	others := make([]*corev1.Pod, 0, len(r.prov.pods))
	for _, o := range r.prov.pods {
		if o != r && o.pod.UID != r.pod.UID {
			others = append(others, o.pod)
		}
	}
	r.prov.mu.Unlock()
	for _, o := range others {
		for _, c := range o.Spec.Containers {
			for _, p := range c.Ports {
				if mine[port{p.ContainerPort, protoOf(p.Protocol)}] {
					r.event(corev1.EventTypeWarning, "PortCollision",
						"containerPort %d/%s is also pod %s/%s's: process pods share the sandbox's ports, so the second to listen on all addresses gets \"address already in use\" (a process that binds its pod's address, %s, does not collide)",
						p.ContainerPort, protoOf(p.Protocol), o.Namespace, o.Name, r.localIP())
					delete(mine, port{p.ContainerPort, protoOf(p.Protocol)})
				}
			}
		}
	}
}

func protoOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// resolvConf is the pod's /etc/resolv.conf as the kubelet writes it
// (pkg/kubelet/network/dns): ClusterFirst pods ask the cluster DNS with
// the namespace's search path and ndots:5; Default pods get the
// sandbox's resolv.conf; None only the pod's dnsConfig, which is merged
// into the others.
func resolvConf(pod *corev1.Pod, hostResolv []byte, clusterDNS, domain string) []byte {
	var servers, search, options []string
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	if (policy == corev1.DNSClusterFirst || policy == corev1.DNSClusterFirstWithHostNet) && clusterDNS == "" {
		policy = corev1.DNSDefault
	}
	hostServers, hostSearch, hostOptions := parseResolv(hostResolv)
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		servers = []string{clusterDNS}
		search = append([]string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}, hostSearch...)
		options = []string{"ndots:5"}
	case corev1.DNSDefault:
		servers, search, options = hostServers, hostSearch, hostOptions
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		for _, s := range dc.Nameservers {
			if !slices.Contains(servers, s) {
				servers = append(servers, s)
			}
		}
		for _, s := range dc.Searches {
			if !slices.Contains(search, s) {
				search = append(search, s)
			}
		}
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			options = slices.DeleteFunc(options, func(x string) bool { return strings.SplitN(x, ":", 2)[0] == o.Name })
			options = append(options, opt)
		}
	}
	var b bytes.Buffer
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return b.Bytes()
}

func parseResolv(b []byte) (servers, search, options []string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search", "domain":
			search = f[1:]
		case "options":
			options = append(options, f[1:]...)
		}
	}
	return
}

// readHostResolv is the sandbox's resolv.conf.
func readHostResolv() []byte {
	b, _ := os.ReadFile("/etc/resolv.conf")
	return b
}
