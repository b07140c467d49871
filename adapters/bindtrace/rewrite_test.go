package bindtrace

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func sockaddr4(a string, port uint16) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint16(b, afInet)
	binary.BigEndian.PutUint16(b[2:], port)
	ip := netip.MustParseAddr(a).As4()
	copy(b[4:], ip[:])
	return b
}

func sockaddr6(a string, port uint16) []byte {
	b := make([]byte, 28)
	binary.NativeEndian.PutUint16(b, afInet6)
	binary.BigEndian.PutUint16(b[2:], port)
	ip := netip.MustParseAddr(a).As16()
	copy(b[8:], ip[:])
	return b
}

func TestRewrite(t *testing.T) {
	own := netip.MustParseAddr("127.244.0.7")
	keep := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:6443")}
	for _, c := range []struct {
		in   []byte
		want []byte // nil: unchanged
	}{
		{sockaddr4("0.0.0.0", 8080), sockaddr4("127.244.0.7", 8080)},
		{sockaddr4("127.0.0.1", 53), sockaddr4("127.244.0.7", 53)},
		{sockaddr4("127.0.0.1", 6443), nil},        // kept: the API server
		{sockaddr6("::ffff:127.0.0.1", 6443), nil}, // kept, IPv4-mapped
		{sockaddr4("127.96.0.10", 53), nil},        // a Service: kept
		{sockaddr4("127.244.0.9", 80), nil},        // another pod: kept
		{sockaddr4("10.0.0.1", 80), nil},
		{sockaddr6("::", 8080), sockaddr6("::ffff:127.244.0.7", 8080)},
		{sockaddr6("::1", 8080), sockaddr6("::ffff:127.244.0.7", 8080)},
		{sockaddr6("::ffff:127.0.0.1", 8080), sockaddr6("::ffff:127.244.0.7", 8080)},
		{sockaddr6("::ffff:0.0.0.0", 8080), sockaddr6("::ffff:127.244.0.7", 8080)},
		{sockaddr6("fd00::1", 8080), nil},
		{[]byte{1, 0, '/', 't', 'm', 'p'}, nil}, // AF_UNIX
		{[]byte{2}, nil},
	} {
		got, changed := Rewrite(c.in, own, keep)
		if c.want == nil {
			if changed || string(got) != string(c.in) {
				t.Errorf("Rewrite(%v) = %v, %v; want unchanged", c.in, got, changed)
			}
			continue
		}
		if !changed || string(got) != string(c.want) {
			t.Errorf("Rewrite(%v) = %v, %v; want %v", c.in, got, changed, c.want)
		}
	}
}

func TestShift(t *testing.T) {
	s := Shift{Prefix: netip.MustParsePrefix("127.96.0.0/12"), Offset: 64512}
	for _, c := range []struct {
		sa   []byte
		want uint16 // 0: unchanged
	}{
		{sockaddr4("127.96.0.10", 53), 64565},
		{sockaddr4("127.97.167.98", 80), 64592},
		{sockaddr6("::ffff:127.96.0.1", 443), 64955},
		{sockaddr4("127.97.167.98", 8080), 0}, // not below 1024
		{sockaddr4("127.244.0.7", 80), 0},     // not a Service address
		{sockaddr4("127.96.0.10", 0), 0},
	} {
		out, ok := s.Apply(c.sa)
		got := binary.BigEndian.Uint16(out[2:4])
		if ok != (c.want != 0) || c.want != 0 && got != c.want {
			t.Errorf("Apply(port %d) = %d, %v; want %d", binary.BigEndian.Uint16(c.sa[2:4]), got, ok, c.want)
		}
	}
	if _, ok := (Shift{}).Apply(sockaddr4("127.96.0.10", 53)); ok {
		t.Error("the zero Shift moved a port")
	}
}
