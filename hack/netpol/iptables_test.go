package netpol

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestIptablesRules(t *testing.T) {
	got := iptablesRules("KPROBE-NETPOL-7", netip.MustParsePrefix("10.244.0.0/24"), 107)
	want := `*mangle
:KPROBE-NETPOL-7 - [0:0]
-A KPROBE-NETPOL-7 -m owner --uid-owner 0 -j RETURN
-A KPROBE-NETPOL-7 -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
-A KPROBE-NETPOL-7 -s 10.244.0.0/24 -j NFQUEUE --queue-num 107 --queue-bypass
-A KPROBE-NETPOL-7 -d 10.244.0.0/24 -j NFQUEUE --queue-num 107 --queue-bypass
-A POSTROUTING -j KPROBE-NETPOL-7
COMMIT
`
	if got != want {
		t.Errorf("rules:\n%s\nwant:\n%s", got, want)
	}
}

func TestValidChain(t *testing.T) {
	for chain, ok := range map[string]bool{
		"KPROBE-NETPOL": true, "KPROBE-NETPOL-12": true,
		"KUBE-NETPOL": false, "POSTROUTING": false, "KPROBE-A B": false,
		"KPROBE-" + strings.Repeat("X", 22): false,
	} {
		if err := validChain(chain); (err == nil) != ok {
			t.Errorf("validChain(%q) = %v", chain, err)
		}
	}
}

func TestQueueBound(t *testing.T) {
	// /proc/net/netfilter/nfnetlink_queue: queue, peer port id, ...
	table := []byte("  100  2886795265     0 2   128     0     0        0  1\n  101      0     0 2   128     0     0        0  1\n")
	for num, want := range map[int]bool{100: true, 101: false, 10: false, 1000: false} {
		if got := queueBound(table, num); got != want {
			t.Errorf("queueBound(%d) = %v, want %v", num, got, want)
		}
	}
}

// inNewNetns runs f on a thread of its own in a new network namespace;
// the thread exits with it, so the host's tables are never touched.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("iptables-restore"); err != nil {
		t.Skip("no iptables-restore")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with the namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		f()
	}()
	<-done
}

// TestIptablesPathLive writes the chain as the enforcer does, twice (a
// restarted enforcer), and removes it, in a namespace of its own.
func TestIptablesPathLive(t *testing.T) {
	if testing.Short() {
		t.Skip("live")
	}
	inNewNetns(t, func() {
		ctx := context.Background()
		cidr := netip.MustParsePrefix("10.244.0.0/24")
		for i := 0; i < 2; i++ {
			if err := installChain(ctx, "KPROBE-NETPOL-3", cidr, 103); err != nil {
				t.Errorf("install: %v", err)
				return
			}
		}
		out, err := exec.Command("iptables-save", "-t", "mangle").Output()
		if err != nil {
			t.Errorf("iptables-save: %v", err)
			return
		}
		if n := strings.Count(string(out), "-A POSTROUTING -j KPROBE-NETPOL-3"); n != 1 {
			t.Errorf("%d jumps to the chain after two installs:\n%s", n, out)
		}
		if !strings.Contains(string(out), "-d 10.244.0.0/24 -j NFQUEUE --queue-num 103 --queue-bypass") {
			t.Errorf("no queue rule:\n%s", out)
		}
		if err := removeChain(ctx, "KPROBE-NETPOL-3"); err != nil {
			t.Errorf("remove: %v", err)
		}
		out, _ = exec.Command("iptables-save", "-t", "mangle").Output()
		if strings.Contains(string(out), "KPROBE-") {
			t.Errorf("chain left after remove:\n%s", out)
		}
		if err := removeChain(ctx, "KPROBE-NETPOL-3"); err != nil {
			t.Errorf("removing an absent chain: %v", err)
		}
	})
}

// TestProbePathLive asks this kernel; on a kernel with neither path the
// error names both refusals.
func TestProbePathLive(t *testing.T) {
	if testing.Short() {
		t.Skip("live")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	path, err := probePath()
	t.Logf("probe: %q, %v", path, err)
	if err != nil && !strings.Contains(err.Error(), "iptables NFQUEUE rule refused") {
		t.Errorf("probe error does not say what iptables answered: %v", err)
	}
	if err == nil && path != "nft" && path != "iptables" {
		t.Errorf("probe path %q", path)
	}
}

// TestNoListenerPassesLive: with the chain in place and nobody bound to
// its queue (an enforcer restarting or killed), a new connection of a
// non-root process to a pod address passes the queue rule instead of
// being dropped (--queue-bypass). In a namespace of its own, on lo.
func TestNoListenerPassesLive(t *testing.T) {
	if testing.Short() {
		t.Skip("live")
	}
	inNewNetns(t, func() {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			t.Errorf("ip link set lo up: %v: %s", err, out)
			return
		}
		// Queue 199: bound by no one in this namespace.
		if err := installChain(context.Background(), "KPROBE-NETPOL-99", netip.MustParsePrefix("127.0.0.0/8"), 199); err != nil {
			t.Errorf("install: %v", err)
			return
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		// Only this thread becomes nobody, and only while it creates the
		// socket (a raw setresuid keeping root as saved uid, not Go's
		// process-wide one): the chain lets root's own sockets pass.
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 65534, 65534, 0); e != 0 {
			t.Errorf("setresuid: %v", e)
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); e != 0 {
			t.Errorf("setresuid back to root: %v", e)
			return
		}
		if err != nil {
			t.Error(err)
			return
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &unix.Timeval{Sec: 3}); err != nil {
			t.Error(err)
			return
		}
		port := l.Addr().(*net.TCPAddr).Port
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Errorf("connect to 127.0.0.1:%d with the chain and no queue listener: %v (want it to pass)", port, err)
		}
		out, _ := exec.Command("iptables", "-t", "mangle", "-L", "KPROBE-NETPOL-99", "-v", "-x", "-n").Output()
		if !regexp.MustCompile(`(?m)^\s*[1-9]\d*\s+\d+\s+NFQUEUE`).Match(out) {
			t.Errorf("no packet went through the queue rule (so the test proves nothing):\n%s", out)
		}
	})
}
