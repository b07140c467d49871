//go:build linux

package probes

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// tcpfListen is TCPF_LISTEN, 1 << TCP_LISTEN, in inet_diag's state mask.
const tcpfListen = 1 << 10

// inetDiagReq is struct inet_diag_req_v2 asking for the TCP sockets of
// one family in the states of States, with no extension and no socket id.
type inetDiagReq struct {
	Family uint8
	States uint32
}

// Len is sizeof(struct inet_diag_req_v2).
func (r *inetDiagReq) Len() int { return 56 }

func (r *inetDiagReq) Serialize() []byte {
	b := make([]byte, r.Len())
	b[0] = r.Family
	b[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(b[4:8], r.States)
	return b
}

// sizeofInetDiagMsg is sizeof(struct inet_diag_msg).
const sizeofInetDiagMsg = 72

// TCPListeners asks NETLINK_INET_DIAG for the sockets in TCP_LISTEN, one
// dump per family. An interrupted dump (the table changed meanwhile) is an
// error: the caller then reads /proc/net/tcp{,6}.
func (liveSys) TCPListeners() ([]TCPListener, error) {
	var out []TCPListener
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
		req.AddData(&inetDiagReq{Family: fam, States: tcpfListen})
		var perr error
		err := req.ExecuteIter(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY, func(m []byte) bool {
			l, err := parseInetDiagMsg(m)
			if err != nil {
				perr = err
				return false
			}
			out = append(out, l)
			return true
		})
		if err == nil {
			err = perr
		}
		if err != nil {
			return nil, fmt.Errorf("sock_diag family %d: %w", fam, err)
		}
	}
	return out, nil
}

// parseInetDiagMsg reads the fields of struct inet_diag_msg a listener is
// named by: family, state, the local port and address (network order),
// uid and inode (host order).
func parseInetDiagMsg(m []byte) (TCPListener, error) {
	if len(m) < sizeofInetDiagMsg {
		return TCPListener{}, fmt.Errorf("inet_diag_msg of %d bytes", len(m))
	}
	if m[1] != 10 { // TCP_LISTEN: the filter asked for nothing else
		return TCPListener{}, fmt.Errorf("inet_diag_msg in state %d", m[1])
	}
	l := TCPListener{
		Port:  binary.BigEndian.Uint16(m[4:6]),
		UID:   binary.NativeEndian.Uint32(m[64:68]),
		Inode: uint64(binary.NativeEndian.Uint32(m[68:72])),
	}
	switch m[0] {
	case unix.AF_INET:
		l.IP = netip.AddrFrom4([4]byte(m[8:12]))
	case unix.AF_INET6:
		l.IP = netip.AddrFrom16([16]byte(m[8:24]))
	default:
		return TCPListener{}, fmt.Errorf("inet_diag_msg of family %d", m[0])
	}
	return l, nil
}
