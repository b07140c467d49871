//go:build linux

package network_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/network"
	"github.com/kprobe/kprobe/probes/probetest"
)

func TestMain(m *testing.M) { probetest.Main(m) }

// hostState is what must not change in the test's own network namespace.
func hostState(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, c := range [][]string{
		{"ip", "-o", "link"},
		{"ip", "netns", "list"},
		{"iptables-nft-save"},
		{"iptables-legacy-save"},
		{"ip6tables-nft-save"},
	} {
		out, err := exec.Command(c[0], c[1:]...).Output()
		if err != nil {
			if _, lerr := exec.LookPath(c[0]); lerr != nil {
				continue
			}
			t.Fatalf("%v: %v", c, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			// Save headers carry timestamps; link lines carry counters
			// only in -s mode.
			if strings.HasPrefix(line, "#") {
				continue
			}
			b.WriteString(line + "\n")
		}
	}
	if ents, err := os.ReadDir("/run/netns"); err == nil {
		for _, e := range ents {
			b.WriteString("netns " + e.Name() + "\n")
		}
	}
	return b.String()
}

func TestLivePassive(t *testing.T) {
	probetest.RequireRoot(t)
	r := probetest.Live(t, network.Probe{})
	t.Logf("network: %s in %.1f ms, facts %v, findings %v", r.Status, r.DurationMS, r.Facts, r.Findings)
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	f := r.Facts
	ifaces := f.List("net.interfaces")
	if !slices.Contains(ifaces, "lo") || !slices.Contains(ifaces, "eth0") {
		t.Errorf("net.interfaces = %v, want lo and eth0", ifaces)
	}
	// This VM routes through eth0, whose MTU is in sysfs.
	if got := f.String("net.default_interface"); got != "eth0" {
		t.Errorf("net.default_interface = %q, want eth0", got)
	}
	want, err := os.ReadFile("/sys/class/net/eth0/mtu")
	if err != nil {
		t.Fatal(err)
	}
	if mtu, _ := f.Int("net.mtu"); probes.Format(mtu) != strings.TrimSpace(string(want)) {
		t.Errorf("net.mtu = %d, want %s", mtu, want)
	}
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if wantFwd := probes.TriOf(strings.TrimSpace(string(fwd)) == "1"); f.Tri("net.ip_forward") != wantFwd {
		t.Errorf("net.ip_forward = %v, want %v", f.Tri("net.ip_forward"), wantFwd)
	}
	// /etc/hosts of this VM gives localhost 127.0.0.1, as Debian's does.
	if f.Tri("net.localhost_loopback") != probes.Yes {
		t.Errorf("net.localhost_loopback = %v, want yes", f.Tri("net.localhost_loopback"))
	}
	if f.Tri("net.engine_sockets") == probes.Unknown {
		t.Errorf("net.engine_sockets unknown in a live scan")
	}
	for _, p := range network.Ports {
		if f.Tri("net.port_"+probes.Format(int64(p.Port))+"_free") == probes.Unknown {
			t.Errorf("port %d: unknown, want a definite answer as root", p.Port)
		}
	}
}

func TestLivePortTaken(t *testing.T) {
	probetest.RequireRoot(t)
	// Hold 2379 (etcd's port, a Warn) on the IPv6 wildcard, which shows up
	// in /proc/net/tcp6 only.
	ln, err := listen("tcp6", "[::]:2379")
	if err != nil {
		t.Skipf("cannot listen on 2379: %v", err)
	}
	defer ln.Close()
	r := probetest.Live(t, network.Probe{})
	if got := r.Facts.Tri("net.port_2379_free"); got != probes.No {
		t.Fatalf("net.port_2379_free = %v with a listener, want no", got)
	}
	var found *probes.Finding
	for i := range r.Findings {
		if r.Findings[i].Code == network.CodePort2379.Code {
			found = &r.Findings[i]
		}
	}
	if found == nil {
		t.Fatalf("no %s finding: %v", network.CodePort2379.Code, r.Findings)
	}
	// The owner is this test process.
	if !strings.Contains(found.Fix, "kill "+probes.Format(int64(os.Getpid()))) {
		t.Errorf("fix %q does not name pid %d", found.Fix, os.Getpid())
	}
	if found.Severity != probes.Warn {
		t.Errorf("severity %s, want warn", found.Severity)
	}
}

func TestLiveNetns(t *testing.T) {
	probetest.RequireRoot(t)
	if _, err := exec.LookPath("iptables-legacy"); err != nil {
		t.Skip("this test expects iptables (nft and legacy) installed, as on the dev VM")
	}
	before := hostState(t)
	r := probetest.Live(t, network.NetnsProbe{})
	after := hostState(t)
	t.Logf("network.netns: %s in %.1f ms, facts %v, findings %v", r.Status, r.DurationMS, r.Facts, r.Findings)
	for _, e := range r.Evidence {
		t.Logf("  %s", e)
	}
	if before != after {
		t.Errorf("host network state changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	f := r.Facts
	if got := f.String("net.netns_mode"); got != "netns" {
		t.Errorf("net.netns_mode = %q, want netns (root)", got)
	}
	for _, k := range []string{"net.veth", "net.bridge", "net.vxlan", "net.iptables_nft", "net.iptables_legacy",
		"net.iptables_nat", "net.iptables_comment", "net.iptables_conntrack", "net.iptables_addrtype",
		"net.iptables_statistic", "net.iptables_multiport", "net.iptables_mark", "net.iptables_dnat"} {
		if f.Tri(k) != probes.Yes {
			t.Errorf("%s = %v, want yes on this VM", k, f.Tri(k))
		}
	}
	if got := f.String("net.iptables_backend"); got != "nft" {
		t.Errorf("net.iptables_backend = %q, want nft", got)
	}
	if got := f.String("net.iptables_default"); got != "nft" {
		t.Errorf("net.iptables_default = %q, want nft (Debian 12 default alternative)", got)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings on a host where everything works: %v", r.Findings)
	}
}

// TestLiveNetnsUserns runs the probe through its fallback, in a new user
// and network namespace, as it runs in sandboxes that refuse a plain
// CLONE_NEWNET (gVisor run, podman, bwrap).
func TestLiveNetnsUserns(t *testing.T) {
	probetest.RequireRoot(t)
	if _, err := exec.LookPath("iptables-legacy"); err != nil {
		t.Skip("this test expects iptables (nft and legacy) installed, as on the dev VM")
	}
	before := hostState(t)
	env := probes.LiveEnv(t.TempDir())
	env.TempDir = t.TempDir()
	start := time.Now()
	o, err := network.RunNetnsUserns(context.Background(), env)
	took := time.Since(start)
	after := hostState(t)
	if before != after {
		t.Errorf("host network state changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("network.netns (userns) in %s: facts %v, findings %v", took, o.Facts, o.Findings)
	for _, e := range o.Evidence {
		t.Logf("  %s", e)
	}
	if got := o.Facts.String("net.netns_mode"); got != "userns" {
		t.Errorf("net.netns_mode = %q, want userns", got)
	}
	// Root in a user namespace owns its network namespace: everything
	// works there on this kernel, nft and legacy alike.
	for _, k := range []string{"net.veth", "net.bridge", "net.vxlan", "net.iptables_nft", "net.iptables_legacy",
		"net.iptables_nat", "net.iptables_comment", "net.iptables_conntrack", "net.iptables_addrtype"} {
		if o.Facts.Tri(k) != probes.Yes {
			t.Errorf("%s = %v, want yes", k, o.Facts.Tri(k))
		}
	}
	// We have CAP_NET_ADMIN, so no "rootless only" finding.
	if len(o.Findings) != 0 {
		t.Errorf("findings: %v", o.Findings)
	}
}

func listen(network, addr string) (net.Listener, error) { return net.Listen(network, addr) }

// TestLiveListenersAgree compares the sock_diag answer the live scan uses
// with /proc/net/tcp and tcp6, which captures and their replays (and
// kernels without sock_diag) use: the same sockets, ports, uids and
// inodes. It needs no privilege. Listeners of other processes may come and
// go between the two reads, so it tries a few times.
func TestLiveListenersAgree(t *testing.T) {
	var own []net.Listener
	for _, a := range [][2]string{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		ln, err := net.Listen(a[0], a[1])
		if err != nil {
			t.Logf("%s %s: %v", a[0], a[1], err)
			continue
		}
		defer ln.Close()
		own = append(own, ln)
	}
	if len(own) == 0 {
		t.Skip("cannot listen on the loopback")
	}
	ls, ok := probes.LiveSys().(probes.ListenerSys)
	if !ok {
		t.Fatal("the live Syscalls has no TCPListeners")
	}
	key := func(ip string, port uint16, uid int, inode uint64) string {
		return net.JoinHostPort(ip, probes.Format(int64(port))) + " uid " + probes.Format(int64(uid)) + " inode " + probes.Format(int64(inode))
	}
	var diag, proc []string
	for try := 0; try < 5; try++ {
		socks, err := ls.TCPListeners()
		if err != nil {
			t.Fatalf("sock_diag: %v", err)
		}
		diag = diag[:0]
		for _, s := range socks {
			diag = append(diag, key(net.IP(s.IP.AsSlice()).String(), s.Port, int(s.UID), s.Inode))
		}
		proc = proc[:0]
		for _, p := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			pl, err := network.ParseTCPListeners(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range pl {
				proc = append(proc, key(l.IP, l.Port, l.UID, l.Inode))
			}
		}
		slices.Sort(diag)
		slices.Sort(proc)
		if slices.Equal(diag, proc) {
			break
		}
	}
	if !slices.Equal(diag, proc) {
		t.Fatalf("sock_diag and /proc/net/tcp{,6} differ:\nsock_diag: %v\n/proc:     %v", diag, proc)
	}
	for _, ln := range own {
		addr := ln.Addr().(*net.TCPAddr)
		if !slices.ContainsFunc(diag, func(s string) bool {
			return strings.HasPrefix(s, net.JoinHostPort(addr.IP.String(), probes.Format(int64(addr.Port)))+" ")
		}) {
			t.Errorf("own listener %s not in %v", addr, diag)
		}
	}
	t.Logf("%d listeners agree: %v", len(diag), diag)
}
