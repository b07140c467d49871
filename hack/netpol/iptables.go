package netpol

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The iptables queue path: for kernels whose nf_tables has no queue
// statement (no nft_queue; CONFIG_NFT_QUEUE unset) but whose xtables
// NFQUEUE target works, through iptables-nft's compat layer
// (CONFIG_NFT_COMPAT) or iptables-legacy. The controller still evaluates
// every queued packet with its own NetworkPolicy semantics; its nftables
// table, which this kernel refuses, is replaced by one chain in the mangle
// table's POSTROUTING (priority -150: after DNAT, before SNAT, as upstream's
// postrouting chain) that mirrors upstream's rules: root's own sockets
// and established or related connections pass, the first packet of every
// other connection from or to a pod goes to the queue. Upstream queues
// only pods that a policy selects (an nft set it keeps); this chain
// queues every pod connection, and the controller accepts those no
// policy selects. IPv4 only: the kubernetes engine's bridge network is.

// iptablesRules is the iptables-restore input that (re)creates chain in
// the mangle table with its rules and the jump from POSTROUTING. With
// --noflush, declaring the chain empties it if it is there already.
//
// The queue rules carry --queue-bypass: a packet queued while nobody
// listens on the queue (the enforcer restarting, or killed before it
// removed the chain) passes instead of being dropped, so a dead enforcer
// leaves the pods unpoliced rather than cut off. While the enforcer runs,
// its listener judges every queued packet; a full queue still drops
// (upstream's --fail-open would accept those too).
func iptablesRules(chain string, podCIDR netip.Prefix, queue int) string {
	target := fmt.Sprintf("-j NFQUEUE --queue-num %d --queue-bypass", queue)
	var b strings.Builder
	fmt.Fprintf(&b, "*mangle\n:%s - [0:0]\n", chain)
	fmt.Fprintf(&b, "-A %s -m owner --uid-owner 0 -j RETURN\n", chain)
	fmt.Fprintf(&b, "-A %s -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN\n", chain)
	fmt.Fprintf(&b, "-A %s -s %s %s\n", chain, podCIDR, target)
	fmt.Fprintf(&b, "-A %s -d %s %s\n", chain, podCIDR, target)
	fmt.Fprintf(&b, "-A POSTROUTING -j %s\n", chain)
	b.WriteString("COMMIT\n")
	return b.String()
}

// validChain keeps the chain name to kprobe's own (hoststate removes every
// KPROBE- chain a launch left) and to what iptables accepts.
func validChain(chain string) error {
	if !strings.HasPrefix(chain, "KPROBE-") || len(chain) > 28 || strings.ContainsAny(chain, " \t\n\"'") {
		return fmt.Errorf("iptables chain %q: must start with KPROBE-, have at most 28 characters and no blanks or quotes", chain)
	}
	return nil
}

// installChain removes what an earlier run left of chain and writes it
// again.
func installChain(ctx context.Context, chain string, podCIDR netip.Prefix, queue int) error {
	if err := removeChain(ctx, chain); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "iptables-restore", "-w", "--noflush")
	cmd.Stdin = strings.NewReader(iptablesRules(chain, podCIDR, queue))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// removeChain deletes every jump from POSTROUTING to chain, then the
// chain; a chain that is not there is no error.
func removeChain(ctx context.Context, chain string) error {
	if exec.CommandContext(ctx, "iptables", "-w", "-t", "mangle", "-n", "-L", chain).Run() != nil {
		return nil // no such chain (or no mangle table at all)
	}
	for i := 0; i < 100; i++ {
		if exec.CommandContext(ctx, "iptables", "-w", "-t", "mangle", "-D", "POSTROUTING", "-j", chain).Run() != nil {
			break
		}
	}
	for _, op := range []string{"-F", "-X"} {
		if out, err := exec.CommandContext(ctx, "iptables", "-w", "-t", "mangle", op, chain).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables -t mangle %s %s: %v: %s", op, chain, err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// probeIptablesQueue writes the chain the iptables path uses, in a
// network namespace of its own that goes with the command: a kernel
// without the NFQUEUE target, the owner or conntrack match, or an
// iptables that cannot reach them, refuses it.
func probeIptablesQueue(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "iptables-restore", "-w")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	cmd.Stdin = strings.NewReader(iptablesRules("KPROBE-NETPOL-PROBE", netip.MustParsePrefix("10.244.0.0/24"), 100))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %v: %s", err, firstLine(out))
	}
	return nil
}

func firstLine(out []byte) string {
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

// queueBound says whether a process listens on nfqueue num, from
// /proc/net/netfilter/nfnetlink_queue (queue number, then the listener's
// netlink port id, per line).
func queueBound(table []byte, num int) bool {
	sc := bufio.NewScanner(bytes.NewReader(table))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == strconv.Itoa(num) && f[1] != "0" {
			return true
		}
	}
	return false
}

// waitQueueBound waits until the controller has bound its queue: a
// packet queued to nobody passes unjudged (--queue-bypass), so the chain
// goes in only once someone gives verdicts.
// False when ctx ends or the controller stops first.
func waitQueueBound(ctx context.Context, stopped <-chan struct{}, num int) bool {
	for {
		if b, err := os.ReadFile("/proc/net/netfilter/nfnetlink_queue"); err == nil && queueBound(b, num) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-stopped:
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}
