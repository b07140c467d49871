package hoststate

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// GuardChain holds launch's rules that keep other local users off a
// loopback port a component serves without authentication (kube-proxy's
// metrics, which v1.37 cannot turn off). Its name is kprobe's, so the
// snapshot taken before launch journals it as new and Undo deletes it
// with the jump to it, like the nodes' chains.
const GuardChain = ChainPrefix + "GUARD"

// OwnerOnly makes TCP connections to addr:port from a process of any uid
// but uid fail with a reset: a rule in GuardChain (filter table, IPv4),
// jumped to first thing in OUTPUT, where every locally made connection
// passes (owner matching works only there). The cluster's components run
// as uid, so they, and root, still connect.
func OwnerOnly(ctx context.Context, addr string, port, uid int) error {
	ipt := func(args ...string) ([]byte, error) {
		return exec.CommandContext(ctx, "iptables", append([]string{"-w", "-t", "filter"}, args...)...).CombinedOutput()
	}
	// The chain may be there from a launch that was never stopped.
	if out, err := ipt("-N", GuardChain); err != nil && !bytes.Contains(out, []byte("exists")) {
		return fmt.Errorf("iptables -N %s: %v: %s", GuardChain, err, bytes.TrimSpace(out))
	}
	rule := []string{GuardChain, "-d", addr + "/32", "-p", "tcp", "--dport", strconv.Itoa(port),
		"-m", "owner", "!", "--uid-owner", strconv.Itoa(uid), "-j", "REJECT", "--reject-with", "tcp-reset"}
	jump := []string{"OUTPUT", "-j", GuardChain}
	for _, r := range []struct {
		spec []string
		add  []string
	}{
		{rule, append([]string{"-A"}, rule...)},
		// First in OUTPUT: a host firewall's "-o lo -j ACCEPT" must
		// not come before it.
		{jump, append([]string{"-I", "OUTPUT", "1"}, jump[1:]...)},
	} {
		if _, err := ipt(append([]string{"-C"}, r.spec...)...); err == nil {
			continue
		}
		if out, err := ipt(r.add...); err != nil {
			return fmt.Errorf("iptables %s: %v: %s", strings.Join(r.add, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}
