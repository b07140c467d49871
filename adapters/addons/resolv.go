package addons

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// Nameservers lists the nameserver addresses of a resolv.conf that a pod
// can reach: loopback ones (systemd-resolved's 127.0.0.53, a local
// dnsmasq) are left out, since in the pod's network namespace they would
// be CoreDNS itself, the loop k3s avoids the same way.
func Nameservers(resolvConf string) []string {
	f, err := os.Open(resolvConf)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		ip := net.ParseIP(strings.SplitN(fields[1], "%", 2)[0])
		if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
			continue
		}
		out = append(out, ip.String())
	}
	return out
}

// Resolvers returns the nameservers of resolvConf that answer a DNS
// query within timeout (all probed at once), in resolv.conf order. An
// offline sandbox lists a resolver that never answers; forwarding to it
// would make every lookup of an outside name wait for the forward
// plugin's timeout.
func Resolvers(ctx context.Context, resolvConf string, timeout time.Duration) []string {
	servers := Nameservers(resolvConf)
	ok := make([]bool, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[i] = Answers(ctx, s, timeout)
		}()
	}
	wg.Wait()
	out := []string{}
	for i, s := range servers {
		if ok[i] {
			out = append(out, s)
		}
	}
	return out
}

// Answers sends server (an IP, port 53) one UDP query for the root's NS
// records and reports whether an answer came back: any response code but
// REFUSED counts, since NXDOMAIN or SERVFAIL still prove a resolver that
// answers.
func Answers(ctx context.Context, server string, timeout time.Duration) bool {
	return answersAt(ctx, server, "53", timeout)
}

func answersAt(ctx context.Context, server, port string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", net.JoinHostPort(server, port))
	if err != nil {
		return false
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var id [2]byte
	_, _ = rand.Read(id[:])
	// Header: id, flags RD, one question; question: the root (one zero
	// byte), type NS (2), class IN (1).
	q := append(id[:], 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1)
	if _, err := conn.Write(q); err != nil {
		return false
	}
	buf := make([]byte, 512)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return false
		}
		if n < 12 || buf[0] != id[0] || buf[1] != id[1] || buf[2]&0x80 == 0 {
			continue // not the answer to this query
		}
		const refused = 5
		return binary.BigEndian.Uint16(buf[2:4])&0x000f != refused
	}
}
