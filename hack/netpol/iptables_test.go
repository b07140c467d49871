package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestIptablesRules(t *testing.T) {
	got := iptablesRules("KPROBE-NETPOL-7", netip.MustParsePrefix("10.244.0.0/24"), 107, false)
	want := `*mangle
:KPROBE-NETPOL-7 - [0:0]
-A KPROBE-NETPOL-7 -m owner --uid-owner 0 -j RETURN
-A KPROBE-NETPOL-7 -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
-A KPROBE-NETPOL-7 -s 10.244.0.0/24 -j NFQUEUE --queue-num 107
-A KPROBE-NETPOL-7 -d 10.244.0.0/24 -j NFQUEUE --queue-num 107
-A POSTROUTING -j KPROBE-NETPOL-7
COMMIT
`
	if got != want {
		t.Errorf("rules:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(iptablesRules("KPROBE-NETPOL", netip.MustParsePrefix("10.244.0.0/24"), 100, true), "--queue-num 100 --queue-bypass\n") {
		t.Error("fail-open rules do not bypass the queue")
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
			if err := installChain(ctx, "KPROBE-NETPOL-3", cidr, 103, false); err != nil {
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
		if !strings.Contains(string(out), "-d 10.244.0.0/24 -j NFQUEUE --queue-num 103") {
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
