package svcproxy

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// serve answers each connection with name and what it read until the
// client's half-close: a backend that tells who answered.
func serve(t testing.TB, addr, name string) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				_, _ = c.Write(append([]byte(name+":"), b...))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln
}

// freePort is a port free on addr now.
func freePort(t testing.TB, addr string) uint16 {
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func ask(t testing.TB, addr, msg string) string {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte(msg))
	_ = c.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestProxyTCP forwards through a loopback Service address to two real
// backends on their loopback mirrors, skipping a dead endpoint, and stops
// listening when the Service goes.
func TestProxyTCP(t *testing.T) {
	a := serve(t, "127.244.1.1:0", "a")
	port := a.Addr().(*net.TCPAddr).Port
	serve(t, net.JoinHostPort("127.244.1.2", itoa(port)), "b")
	dead := net.JoinHostPort("127.244.1.3", itoa(port)) // nothing listens
	svc := netip.AddrPortFrom(netip.MustParseAddr("127.96.1.1"), freePort(t, "127.96.1.1"))
	p := NewProxy(t.Logf)
	defer p.Close()
	key := Key{svc, corev1.ProtocolTCP}
	p.Sync(map[Key]Route{key: {Service: "ns/web:80", Backends: []string{dead, a.Addr().String(), net.JoinHostPort("127.244.1.2", itoa(port))}}})
	seen := map[string]bool{}
	for i := 0; i < 40 && len(seen) < 2; i++ {
		got := ask(t, svc.String(), "hello")
		name, rest, _ := strings.Cut(got, ":")
		if rest != "hello" {
			t.Fatalf("through the proxy: %q", got)
		}
		seen[name] = true
	}
	if len(seen) != 2 {
		t.Fatalf("40 connections reached only %v", seen)
	}
	p.Sync(nil)
	if _, err := net.DialTimeout("tcp", svc.String(), time.Second); err == nil {
		t.Fatal("still listening after the Service went")
	}
}

// TestProxyUDP relays datagrams both ways, the reply coming from the
// Service's address.
func TestProxyUDP(t *testing.T) {
	be, err := net.ListenPacket("udp", "127.244.1.4:0")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := be.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = be.WriteTo(append([]byte("re:"), buf[:n]...), from)
		}
	}()
	svc := netip.AddrPortFrom(netip.MustParseAddr("127.96.1.2"), freePort(t, "127.96.1.2"))
	p := NewProxy(t.Logf)
	defer p.Close()
	p.Sync(map[Key]Route{{svc, corev1.ProtocolUDP}: {Service: "ns/dns:53", Backends: []string{be.LocalAddr().String()}}})
	c, err := net.Dial("udp", svc.String()) // a connected socket takes replies from svc only
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for _, m := range []string{"one", "two"} {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "re:"+m {
			t.Fatalf("reply to %s: %q, %v", m, buf[:n], err)
		}
	}
}

// TestProxyListenFailure logs a listener the sandbox refuses (the
// address in use) once, with the Service it was for.
func TestProxyListenFailure(t *testing.T) {
	ln := serve(t, "127.96.1.3:0", "x")
	var lines []string
	p := NewProxy(func(f string, a ...any) { lines = append(lines, f) })
	defer p.Close()
	ap := netip.MustParseAddrPort(ln.Addr().String())
	table := map[Key]Route{{ap, corev1.ProtocolTCP}: {Service: "ns/x:80", Backends: []string{"127.244.1.9:1"}}}
	p.Sync(table)
	p.Sync(table)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "svcproxy: cannot listen on") || len(p.Listening()) != 0 {
		t.Fatalf("logged %q, listening %v", lines, p.Listening())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// request is one short-lived connection: a 100-byte request, a 1 KiB
// answer, as a small HTTP exchange.
func request(b *testing.B, addr string, req []byte, resp []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Write(req); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(c, resp); err != nil {
		b.Fatal(err)
	}
	c.Close()
}

func benchServer(b *testing.B, addr string) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	answer := make([]byte, 1024)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				buf := make([]byte, 100)
				if _, err := io.ReadFull(r, buf); err == nil {
					_, _ = c.Write(answer)
				}
			}()
		}
	}()
	b.Cleanup(func() { ln.Close() })
	return ln
}

// benchRequests reports requests/s and the p99 latency of one request
// (a new connection each) to addr.
func benchRequests(b *testing.B, addr string) {
	req, resp := make([]byte, 100), make([]byte, 1024)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		request(b, addr, req, resp)
		lat = append(lat, time.Since(t0))
	}
	el := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRequestDirect: short connections straight to the pod's address.
func BenchmarkRequestDirect(b *testing.B) {
	ln := benchServer(b, "127.244.2.1:0")
	benchRequests(b, ln.Addr().String())
}

// BenchmarkRequestProxy: the same through the Service proxy.
func BenchmarkRequestProxy(b *testing.B) {
	ln := benchServer(b, "127.244.2.2:0")
	svc := netip.AddrPortFrom(netip.MustParseAddr("127.96.2.1"), freePort(b, "127.96.2.1"))
	p := NewProxy(b.Logf)
	defer p.Close()
	p.Sync(map[Key]Route{{svc, corev1.ProtocolTCP}: {Service: "bench", Backends: []string{ln.Addr().String()}}})
	benchRequests(b, svc.String())
}

// streamBench copies 64 KiB chunks one way over one connection to addr,
// whose server discards them.
func streamBench(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	chunk := make([]byte, 64<<10)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

func sink(b *testing.B, addr string) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	b.Cleanup(func() { ln.Close() })
	return ln
}

// BenchmarkStreamDirect and BenchmarkStreamProxy: bulk throughput of one
// connection, straight and through the proxy.
func BenchmarkStreamDirect(b *testing.B) { streamBench(b, sink(b, "127.244.2.3:0").Addr().String()) }

func BenchmarkStreamProxy(b *testing.B) {
	ln := sink(b, "127.244.2.4:0")
	svc := netip.AddrPortFrom(netip.MustParseAddr("127.96.2.2"), freePort(b, "127.96.2.2"))
	p := NewProxy(b.Logf)
	defer p.Close()
	p.Sync(map[Key]Route{{svc, corev1.ProtocolTCP}: {Service: "bench", Backends: []string{ln.Addr().String()}}})
	streamBench(b, svc.String())
}
