package svcproxy

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Key is one address the proxy listens on.
type Key struct {
	Addr  netip.AddrPort
	Proto corev1.Protocol
}

func (k Key) String() string { return string(k.Proto) + " " + k.Addr.String() }

// Route is where a listener forwards to: the Service port it serves and
// the addresses of its endpoints, already mapped to where they are
// dialled.
type Route struct {
	Service  string // namespace/name:port
	Backends []string
}

// Mirror is the loopback address a pod IP is reached on: 127 and the
// IP's last three bytes (10.244.0.7 -> 127.244.0.7). Addresses that are
// not IPv4 come back unchanged.
func Mirror(ip netip.Addr) netip.Addr {
	if !ip.Is4() || ip.IsLoopback() {
		return ip
	}
	b := ip.As4()
	b[0] = 127
	return netip.AddrFrom4(b)
}

// Addresses says where the proxy listens and dials.
type Addresses struct {
	// PodCIDR holds the pod IPs, which are dialled on their Mirror; other
	// endpoint addresses as they are.
	PodCIDR netip.Prefix
	// NodePorts is the address NodePorts listen on (0.0.0.0: every
	// address, as kube-proxy); invalid: no NodePorts.
	NodePorts netip.Addr
	// APIServer, when valid, is dialled for the Service default/kubernetes
	// instead of its endpoints: the API server advertises an address it
	// may not listen on (it binds loopback where the sandbox has only lo,
	// or to keep it from the network).
	APIServer netip.AddrPort
	// OwnBinds: pods' processes bind their own address (adapters/bindtrace
	// rewrites their binds to all addresses), so a pod never answers on a
	// ClusterIP itself and every Service port of a pod gets a listener.
	OwnBinds bool
	// LowPortOffset, when set, is added to every Service port below 1024
	// that the proxy listens on at a ClusterIP: nobody in the sandbox may
	// listen there (no CAP_NET_BIND_SERVICE for its network namespace),
	// and adapters/bindtrace moves pods' connects by the same offset
	// (bindtrace.Shift).
	LowPortOffset uint16
}

// PrivilegedPortOffset is the LowPortOffset the node agent uses: ports
// 0-1023 land on 64512-65535, above Linux's ephemeral range (32768-60999)
// and the NodePort range.
const PrivilegedPortOffset = 64512

// Table computes every listener and its route from the Services and their
// EndpointSlices.
func Table(svcs []*corev1.Service, slices []*discoveryv1.EndpointSlice, a Addresses) map[Key]Route {
	podCIDR, nodePorts := a.PodCIDR, a.NodePorts
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range slices {
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" && s.AddressType == discoveryv1.AddressTypeIPv4 {
			k := s.Namespace + "/" + name
			bySvc[k] = append(bySvc[k], s)
		}
	}
	out := map[Key]Route{}
	for _, svc := range svcs {
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue // headless (None) or no address
		}
		for _, p := range svc.Spec.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			if proto == corev1.ProtocolSCTP {
				continue
			}
			r := Route{
				Service:  fmt.Sprintf("%s/%s:%s", svc.Namespace, svc.Name, portName(p)),
				Backends: backends(bySvc[svc.Namespace+"/"+svc.Name], p.Name, proto, podCIDR),
			}
			if svc.Namespace == "default" && svc.Name == "kubernetes" && a.APIServer.IsValid() {
				r.Backends = []string{a.APIServer.String()}
			}
			if len(r.Backends) == 0 {
				continue // nothing listens: refused, as kube-proxy rejects
			}
			if !direct(r.Backends, p.Port, podCIDR, a.OwnBinds) {
				port := uint16(p.Port)
				if port < 1024 && a.LowPortOffset != 0 {
					port += a.LowPortOffset
				}
				out[Key{netip.AddrPortFrom(ip, port), proto}] = r
			}
			if p.NodePort != 0 && nodePorts.IsValid() && svc.Spec.Type != corev1.ServiceTypeClusterIP {
				out[Key{netip.AddrPortFrom(nodePorts, uint16(p.NodePort)), proto}] = r
			}
		}
	}
	return out
}

// direct says whether every endpoint listens on the Service's own port
// on all addresses of the sandbox. Then the proxy stays off the
// ClusterIP: such a pod already answers there, and a listener of the
// proxy on ClusterIP:port would make that pod's bind fail with "address
// already in use" (one port space for the whole sandbox). With ownBinds
// a pod's endpoint (a mirror of the pod CIDR) listens on its own address
// only, so it is never direct.
func direct(backends []string, port int32, podCIDR netip.Prefix, ownBinds bool) bool {
	for _, b := range backends {
		ap, err := netip.ParseAddrPort(b)
		if err != nil || ap.Port() != uint16(port) {
			return false
		}
		if ownBinds && isMirror(ap.Addr(), podCIDR) {
			return false
		}
	}
	return true
}

// isMirror says whether a is the Mirror of an address of podCIDR.
func isMirror(a netip.Addr, podCIDR netip.Prefix) bool {
	if !a.Is4() || !podCIDR.Addr().Is4() || a.As4()[0] != 127 {
		return false
	}
	b := a.As4()
	b[0] = podCIDR.Addr().As4()[0]
	return podCIDR.Contains(netip.AddrFrom4(b))
}

func portName(p corev1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Port))
}

// backends are the endpoints of the slices for the Service port named
// name: the ready ones, else (as kube-proxy) the serving terminating ones.
func backends(slices []*discoveryv1.EndpointSlice, name string, proto corev1.Protocol, podCIDR netip.Prefix) []string {
	var ready, terminating []string
	for _, s := range slices {
		port := int32(-1)
		for _, sp := range s.Ports {
			p := corev1.ProtocolTCP
			if sp.Protocol != nil {
				p = *sp.Protocol
			}
			if sp.Port != nil && p == proto && (sp.Name == nil && name == "" || sp.Name != nil && *sp.Name == name) {
				port = *sp.Port
			}
		}
		if port < 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			c := ep.Conditions
			isReady := c.Ready == nil || *c.Ready
			serving := c.Serving == nil && isReady || c.Serving != nil && *c.Serving
			term := c.Terminating != nil && *c.Terminating
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				if podCIDR.IsValid() && podCIDR.Contains(ip) {
					ip = Mirror(ip)
				}
				addr := netip.AddrPortFrom(ip, uint16(port)).String()
				switch {
				case isReady && !term:
					ready = append(ready, addr)
				case serving && term:
					terminating = append(terminating, addr)
				}
			}
		}
	}
	if len(ready) == 0 {
		ready = terminating
	}
	sort.Strings(ready)
	return ready
}
