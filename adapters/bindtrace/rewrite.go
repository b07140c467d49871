package bindtrace

import (
	"encoding/binary"
	"net/netip"
)

// Address families of struct sockaddr.
const (
	afInet  = 2
	afInet6 = 10
)

// Rewrite returns the sockaddr sa of a bind or connect with its address
// replaced by own where it names all addresses or loopback, and whether
// it changed; an address and port in keep is kept (the sandbox's
// services a pod is told to reach on loopback: the API server, a local
// resolver). sa is the raw struct sockaddr_in or sockaddr_in6 as the
// caller passed it; other families are kept.
func Rewrite(sa []byte, own netip.Addr, keep []netip.AddrPort) ([]byte, bool) {
	if len(sa) < 2 || !own.Is4() {
		return sa, false
	}
	o := own.As4()
	switch binary.NativeEndian.Uint16(sa) {
	case afInet:
		if len(sa) < 8 {
			return sa, false
		}
		a := netip.AddrFrom4([4]byte(sa[4:8]))
		if !matches(a) || kept(a, sa, keep) {
			return sa, false
		}
		out := append([]byte{}, sa...)
		copy(out[4:8], o[:])
		return out, true
	case afInet6:
		if len(sa) < 28 {
			return sa, false
		}
		a := netip.AddrFrom16([16]byte(sa[8:24])).Unmap()
		if !matches(a) || kept(a, sa, keep) {
			return sa, false
		}
		out := append([]byte{}, sa...)
		m := netip.AddrFrom4(o).As16() // ::ffff:a.b.c.d
		copy(out[8:24], m[:])
		binary.NativeEndian.PutUint32(out[24:], 0) // scope id: none
		return out, true
	}
	return sa, false
}

// matches says whether a is an address the pod's own address stands in
// for: all addresses (a bind; a connect to it reaches the local host)
// and "localhost".
func matches(a netip.Addr) bool {
	return a.IsUnspecified() || a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || a == netip.IPv6Loopback()
}

// kept says whether a and the port of sa are in keep.
func kept(a netip.Addr, sa []byte, keep []netip.AddrPort) bool {
	port := binary.BigEndian.Uint16(sa[2:4])
	for _, k := range keep {
		if k.Addr().Unmap() == a && k.Port() == port {
			return true
		}
	}
	return false
}

// Shift moves a connect to an address of Prefix on a port below 1024 to
// that port plus Offset. Where no process of the sandbox may listen below
// 1024 (a user namespace that does not own the network namespace, so no
// CAP_NET_BIND_SERVICE there), the node agent's Service proxy listens on
// CLUSTER-IP:PORT+Offset instead (adapters/svcproxy), and a pod's connect
// to CLUSTER-IP:80 or to its resolver's port 53 arrives there. The zero
// Shift moves nothing.
type Shift struct {
	Prefix netip.Prefix `json:"prefix"`
	Offset uint16       `json:"offset"`
}

// Apply returns the sockaddr sa of a connect with its port moved where s
// says, and whether it changed.
func (s Shift) Apply(sa []byte) ([]byte, bool) {
	if s.Offset == 0 || !s.Prefix.IsValid() || len(sa) < 4 {
		return sa, false
	}
	var a netip.Addr
	switch binary.NativeEndian.Uint16(sa) {
	case afInet:
		if len(sa) < 8 {
			return sa, false
		}
		a = netip.AddrFrom4([4]byte(sa[4:8]))
	case afInet6:
		if len(sa) < 24 {
			return sa, false
		}
		a = netip.AddrFrom16([16]byte(sa[8:24])).Unmap()
	default:
		return sa, false
	}
	port := binary.BigEndian.Uint16(sa[2:4])
	if port == 0 || port >= 1024 || int(port)+int(s.Offset) > 65535 || !s.Prefix.Contains(a) {
		return sa, false
	}
	out := append([]byte{}, sa...)
	binary.BigEndian.PutUint16(out[2:4], port+s.Offset)
	return out, true
}
