package hoststate

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// The iptables commands whose tables a cluster fills: the kubelet adds its
// canary and firewall chains to both families, kube-proxy and the CNI
// plugins their own.
var (
	iptablesTables = []string{"filter", "nat", "mangle"}
	iptablesBins   = []string{"iptables", "ip6tables"}
)

// nftFamily is the nf_tables family an iptables command's tables live in.
func nftFamily(bin string) string {
	if bin == "ip6tables" {
		return "ip6"
	}
	return "ip"
}

// listTables returns the tables `<bin>-save` prints: with the nf_tables
// backend only those that exist (a fresh host has none).
func listTables(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, bin+"-save").Output()
	if err != nil {
		return nil, err
	}
	var tables []string
	for _, l := range strings.Split(string(out), "\n") {
		if t, ok := strings.CutPrefix(l, "*"); ok {
			tables = append(tables, strings.TrimSpace(t))
		}
	}
	return tables, nil
}

func listChains(ctx context.Context, bin, table string) ([]string, error) {
	out, err := exec.CommandContext(ctx, bin, "-w", "-t", table, "-S").Output()
	if err != nil {
		return nil, err
	}
	var chains []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "-N" || f[0] == "-P") {
			chains = append(chains, f[1])
		}
	}
	return chains, nil
}

// clusterChain matches the chains the kubelet, kube-proxy and the CNI
// plugins create, and launch's own for the nodes' network.
func clusterChain(c string) bool {
	return strings.HasPrefix(c, "KUBE-") || strings.HasPrefix(c, "CNI-") || strings.HasPrefix(c, ChainPrefix)
}

// undoIptables deletes the cluster's chains and the tables that are new
// since the snapshot (launch's own GuardChain and nodes' chains included).
func (s *Snapshot) undoIptables(ctx context.Context) (done []string, errs []error) {
	for _, bin := range sortedKeys(s.Chains) {
		for _, table := range sortedKeys(s.Chains[bin]) {
			d, e := removeChains(ctx, bin, table, set(s.Chains[bin][table]))
			done = append(done, d...)
			errs = append(errs, e...)
		}
		d, e := removeTables(ctx, bin, set(s.Tables[bin]))
		done = append(done, d...)
		errs = append(errs, e...)
	}
	return done, errs
}

// iptablesLeftovers lists the tables and cluster chains that are new
// since the snapshot.
func (s *Snapshot) iptablesLeftovers(ctx context.Context) []string {
	var out []string
	for _, bin := range sortedKeys(s.Tables) {
		before := set(s.Tables[bin])
		tables, _ := listTables(ctx, bin)
		for _, t := range tables {
			if !before[t] {
				out = append(out, fmt.Sprintf("%s table %s was created", bin, t))
			}
		}
		for _, t := range sortedKeys(s.Chains[bin]) {
			old := set(s.Chains[bin][t])
			chains, _ := listChains(ctx, bin, t)
			for _, c := range chains {
				if !old[c] && clusterChain(c) {
					out = append(out, fmt.Sprintf("%s chain %s/%s is still there", bin, t, c))
				}
			}
		}
	}
	return out
}

// removeChains deletes the cluster's chains that appeared since the
// snapshot, with every rule that jumps to them.
func removeChains(ctx context.Context, bin, table string, old map[string]bool) (done []string, errs []error) {
	out, err := exec.CommandContext(ctx, bin, "-w", "-t", table, "-S").Output()
	if err != nil {
		return nil, []error{fmt.Errorf("%s -t %s -S: %w", bin, table, err)}
	}
	var gone []string
	isGone := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "-N" && !old[f[1]] && clusterChain(f[1]) {
			gone = append(gone, f[1])
			isGone[f[1]] = true
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	// Rules in surviving chains that jump to a chain being removed.
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "-A" || isGone[f[1]] {
			continue
		}
		for i := 2; i+1 < len(f); i++ {
			if (f[i] == "-j" || f[i] == "-g") && isGone[f[i+1]] {
				args := append([]string{"-w", "-t", table, "-D"}, splitRule(l)[1:]...)
				if o, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, bytes.TrimSpace(o)))
				}
				break
			}
		}
	}
	for _, c := range gone {
		_ = exec.CommandContext(ctx, bin, "-w", "-t", table, "-F", c).Run()
	}
	for _, c := range gone {
		if o, err := exec.CommandContext(ctx, bin, "-w", "-t", table, "-X", c).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s -t %s -X %s: %v: %s", bin, table, c, err, bytes.TrimSpace(o)))
			continue
		}
		done = append(done, fmt.Sprintf("deleted %s chain %s/%s", bin, table, c))
	}
	return done, errs
}

// emptyTable says whether `<bin> -t table -S` shows nothing but the
// built-in chains with policy ACCEPT: a table that filters nothing.
func emptyTable(rules string) bool {
	for _, l := range strings.Split(rules, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if f[0] != "-P" || len(f) != 3 || f[2] != "ACCEPT" {
			return false
		}
	}
	return true
}

// removeTables deletes the tables of bin that did not exist before the
// launch and are empty now that the cluster's chains are gone. Only the
// nf_tables backend can delete a table (deleteNFTable); the legacy
// backend's tables stay loaded, empty, which changes nothing.
func removeTables(ctx context.Context, bin string, before map[string]bool) (done []string, errs []error) {
	now, err := listTables(ctx, bin)
	if err != nil {
		return nil, nil // no such command: nothing was added with it
	}
	v, _ := exec.CommandContext(ctx, bin, "-V").Output()
	nft := strings.Contains(string(v), "nf_tables")
	for _, t := range now {
		if before[t] {
			continue
		}
		rules, err := exec.CommandContext(ctx, bin, "-w", "-t", t, "-S").Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s -t %s -S: %w", bin, t, err))
			continue
		}
		if !emptyTable(string(rules)) {
			errs = append(errs, fmt.Errorf("%s table %s appeared with the cluster and still holds rules that are not the cluster's: left as it is", bin, t))
			continue
		}
		if !nft {
			done = append(done, fmt.Sprintf("%s table %s is empty (the legacy backend cannot unload it)", bin, t))
			continue
		}
		if err := deleteNFTable(bin, t); err != nil {
			errs = append(errs, fmt.Errorf("delete nf_tables table %s %s: %w", nftFamily(bin), t, err))
			continue
		}
		done = append(done, fmt.Sprintf("deleted the empty %s table %s the cluster created", bin, t))
	}
	return done, errs
}

// splitRule splits an iptables -S line into arguments: iptables quotes
// an argument with spaces ("name: \"kprobe\" id: ...") and escapes the
// quotes inside it with a backslash.
func splitRule(l string) []string {
	var out []string
	var cur strings.Builder
	inQ, started := false, false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case inQ && c == '\\' && i+1 < len(l):
			i++
			cur.WriteByte(l[i])
		case c == '"':
			inQ, started = !inQ, true
		case c == ' ' && !inQ:
			if cur.Len() > 0 || started {
				out = append(out, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 || started {
		out = append(out, cur.String())
	}
	return out
}
