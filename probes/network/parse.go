package network

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ParseNetDev returns the interface names listed in /proc/net/dev, in file
// order. The two header lines contain '|' and are skipped.
func ParseNetDev(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "|") {
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			continue
		}
		names = append(names, name)
	}
	return names, sc.Err()
}

// Route flags of <linux/route.h> and <linux/ipv6_route.h>.
const (
	rtfUp     = 0x0001
	rtfReject = 0x0200
)

// ParseRoute returns the interface of the IPv4 default route in
// /proc/net/route (destination and mask 0, flag RTF_UP), preferring the
// lowest metric, or "" when there is none.
func ParseRoute(r io.Reader) (string, error) {
	routes, err := ParseRoutes(r)
	best, bestMetric := "", uint64(0)
	for _, rt := range routes {
		if rt.Dst.Bits() == 0 && (best == "" || rt.Metric < bestMetric) {
			best, bestMetric = rt.Iface, rt.Metric
		}
	}
	return best, err
}

// ParseIPv6Route returns the interface of the IPv6 default route in
// /proc/net/ipv6_route (::/0, RTF_UP, not RTF_REJECT, not on lo), preferring
// the lowest metric, or "" when there is none.
func ParseIPv6Route(r io.Reader) (string, error) {
	best, bestMetric := "", uint64(0)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		metric, err1 := strconv.ParseUint(f[5], 16, 32)
		flags, err2 := strconv.ParseUint(f[8], 16, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if strings.Trim(f[0], "0") != "" || f[1] != "00" || flags&rtfUp == 0 || flags&rtfReject != 0 || f[9] == "lo" {
			continue
		}
		if best == "" || metric < bestMetric {
			best, bestMetric = f[9], metric
		}
	}
	return best, sc.Err()
}

// Listener is a TCP socket in LISTEN state from /proc/net/tcp or tcp6.
type Listener struct {
	IP    string // "0.0.0.0", "::", "127.0.0.1"
	Port  uint16
	UID   int
	Inode uint64
}

func (l Listener) String() string {
	return net.JoinHostPort(l.IP, strconv.Itoa(int(l.Port)))
}

// tcpListen is TCP_LISTEN in the st column.
const tcpListen = "0A"

// ParseTCPListeners returns the sockets in LISTEN state (st 0A) of a
// /proc/net/tcp or /proc/net/tcp6 table. Malformed lines are skipped.
func ParseTCPListeners(r io.Reader) ([]Listener, error) {
	var out []Listener
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[0] == "sl" || f[3] != tcpListen {
			continue
		}
		addr, port, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil {
			continue
		}
		ip, err := decodeProcIP(addr)
		if err != nil {
			continue
		}
		uid, err := strconv.Atoi(f[7])
		if err != nil {
			continue
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			continue
		}
		out = append(out, Listener{IP: ip, Port: uint16(p), UID: uid, Inode: inode})
	}
	return out, sc.Err()
}

// decodeProcIP decodes the address of /proc/net/tcp{,6}: the raw bytes of
// the address printed as 32-bit words in host (little-endian) order.
func decodeProcIP(s string) (string, error) {
	if len(s) != 8 && len(s) != 32 {
		return "", fmt.Errorf("address %q has %d hex digits", s, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", err
	}
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b).String(), nil
}

// IptablesVersion parses the first line of `iptables --version`:
// "iptables v1.8.9 (nf_tables)" gives ("1.8.9", "nft"). Releases before
// 1.8 print no backend and are legacy.
//
// Where nf_tables is missing (gVisor), the nft variant fails even to print
// its version with "Failed to initialize nft": that still names the
// backend.
func IptablesVersion(out string) (version, backend string) {
	line := strings.TrimSpace(strings.SplitN(strings.TrimSpace(out), "\n", 2)[0])
	if strings.Contains(line, "Failed to initialize nft") {
		return "", "nft"
	}
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[1], "v") || !strings.Contains(f[0], "tables") {
		return "", ""
	}
	version = strings.TrimPrefix(f[1], "v")
	switch {
	case strings.Contains(line, "(nf_tables)"):
		backend = "nft"
	case strings.Contains(line, "(legacy)"):
		backend = "legacy"
	default:
		backend = "legacy"
	}
	return version, backend
}

// IptablesError reduces iptables' stderr to its message (skipping the
// "legacy tables present" warnings) and the errno it names, if any.
func IptablesError(stderr string) (msg, errno string) {
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.Contains(line, "tables present") {
			continue
		}
		msg = line
		break
	}
	if len(msg) > 240 {
		msg = msg[:240]
	}
	for _, m := range []struct{ text, errno string }{
		{"Permission denied", "EACCES"},
		{"Operation not permitted", "EPERM"},
		{"Protocol not supported", "EPROTONOSUPPORT"},
		{"Address family not supported", "EAFNOSUPPORT"},
		{"Operation not supported", "EOPNOTSUPP"},
		{"Table does not exist", "ENOENT"},
		{"No such file or directory", "ENOENT"},
		{"Invalid argument", "EINVAL"},
	} {
		if strings.Contains(stderr, m.text) {
			return msg, m.errno
		}
	}
	return msg, ""
}

// LoopbackLocal reports whether /proc/net/fib_trie lists 127.0.0.1 as a
// local host address ("|-- 127.0.0.1" followed by "/32 host LOCAL").
func LoopbackLocal(r io.Reader) bool {
	sc := bufio.NewScanner(r)
	prev := ""
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if prev == "|-- 127.0.0.1" && strings.HasPrefix(l, "/32 host LOCAL") {
			return true
		}
		prev = l
	}
	return false
}

// Route is one IPv4 route of /proc/net/route that is up.
type Route struct {
	Iface  string
	Dst    netip.Prefix
	Metric uint64
}

// ParseRoutes returns the IPv4 routes of /proc/net/route that are up
// and not reject routes; destination and mask are little-endian hex.
func ParseRoutes(r io.Reader) ([]Route, error) {
	var out []Route
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[0] == "Iface" {
			continue
		}
		flags, err1 := strconv.ParseUint(f[3], 16, 32)
		dst, err2 := strconv.ParseUint(f[1], 16, 32)
		mask, err3 := strconv.ParseUint(f[7], 16, 32)
		metric, err4 := strconv.ParseUint(f[6], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || flags&rtfUp == 0 || flags&rtfReject != 0 {
			continue
		}
		le := func(v uint64) [4]byte { return [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
		m := le(mask)
		ones := 0
		for _, b := range m {
			ones += bits.OnesCount8(b)
		}
		p, err := netip.AddrFrom4(le(dst)).Prefix(ones)
		if err != nil {
			continue
		}
		out = append(out, Route{Iface: f[0], Dst: p, Metric: metric})
	}
	return out, sc.Err()
}
