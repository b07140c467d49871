//go:build linux

package network

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/kprobe/kprobe/probes"
)

// Ops returns the op of the active network probe.
func Ops() map[string]probes.Op {
	return map[string]probes.Op{OpNetns: netnsOp}
}

// Run spawns the op in a new network namespace, falling back to a new user
// and network namespace when the plain one is refused, and judges what it
// reports.
func (NetnsProbe) Run(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	return runNetns(ctx, env, false)
}

// runNetns is Run; forceUserns skips the plain CLONE_NEWNET attempt, so
// that tests as root can exercise the user namespace path.
func runNetns(ctx context.Context, env *probes.Env, forceUserns bool) (*probes.Observation, error) {
	o := probes.NewObservation()
	bins, def := iptablesBinaries(ctx, env, o)
	in := netnsInput{Bins: bins, Default: def, NetAdmin: netAdmin(env, o)}

	parentNS, _ := fs.ReadLink(env.Root, "proc/self/ns/net")
	tmp := env.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	args := []string{"parentns=" + parentNS, "lock=" + filepath.Join(tmp, "xtables.lock")}
	for _, b := range []string{"nft", "legacy"} {
		if bins[b] != "" {
			args = append(args, b+"="+bins[b])
		}
	}

	in.Mode = "netns"
	out, err := "", errors.New("skipped (test of the user namespace path)")
	if !forceUserns {
		out, err = probes.SpawnOp(ctx, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}, OpNetns, args...)
	}
	if err != nil && ctx.Err() == nil {
		o.Note("clone(CLONE_NEWNET)", "", err)
		in.CloneErr, in.CloneErrno = "CLONE_NEWNET: "+probes.Errno(err), probes.Errno(err)
		in.Mode = "userns"
		attr := &syscall.SysProcAttr{
			Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
			GidMappingsEnableSetgroups: false,
		}
		var uerr error
		out, uerr = probes.SpawnOp(ctx, attr, OpNetns, args...)
		if uerr != nil {
			o.Note("clone(CLONE_NEWUSER|CLONE_NEWNET)", "", uerr)
			in.CloneErr += "; CLONE_NEWUSER|CLONE_NEWNET: " + probes.Errno(uerr)
			in.CloneErrno = probes.Errno(uerr)
			in.Mode = "none"
		}
		err = uerr
	}
	if ctx.Err() != nil {
		return o, fmt.Errorf("network namespace op: %w", ctx.Err())
	}
	if err == nil {
		var r OpResult
		if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
			return o, fmt.Errorf("network namespace op sent %q: %v", out, jerr)
		}
		in.Result = &r
		o.Note("network namespace", in.Mode+" "+r.NetNS, nil)
	}
	judge(o, in)
	return o, nil
}

// Names of what the op creates; kernel interface names are at most 15 bytes.
const (
	vethName   = "kprobe-veth0"
	vethPeer   = "kprobe-veth1"
	bridgeName = "kprobe-br0"
	vxlanName  = "kprobe-vxlan0"
	chainName  = "KPROBE-TEST"
)

// netnsOp runs inside the new network namespace. Its args are key=value:
// parentns (the parent's /proc/self/ns/net link, so that the op refuses to
// touch the namespace it was spawned from), lock (a private xtables lock
// file), nft and legacy (the iptables binaries to try).
func netnsOp(args []string) (string, error) {
	kv := map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		kv[k] = v
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err == nil && self == kv["parentns"] {
		return "", errors.New("still in the parent's network namespace " + self + "; refusing to change it")
	}
	r := OpResult{NetNS: self}
	// The links (netlink) and each iptables backend (nf_tables, the legacy
	// x_tables with its private lock) touch separate kernel state of this
	// namespace: try them at once, then report in the fixed order.
	type backendTry struct {
		res     BackendResult
		cleanup []Step
	}
	var tries []*backendTry
	var wg sync.WaitGroup
	for _, b := range []string{"nft", "legacy"} {
		if bin := kv[b]; bin != "" {
			t := &backendTry{}
			tries = append(tries, t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.res, t.cleanup = tryIptables(b, bin, kv["lock"])
			}()
		}
	}
	r.Links, r.Cleanup = tryLinks()
	wg.Wait()
	for _, t := range tries {
		r.Backends = append(r.Backends, t.res)
		r.Cleanup = append(r.Cleanup, t.cleanup...)
	}
	b, err := json.Marshal(r)
	return string(b), err
}

func stepOf(name string, err error) Step {
	if err == nil {
		return Step{Name: name, OK: true}
	}
	s := Step{Name: name, Errno: probes.Errno(err)}
	if s.Errno == err.Error() {
		s.Errno = ""
	}
	s.Msg = err.Error()
	return s
}

// tryLinks creates the links a pod network needs (as the bridge CNI plugin
// and flannel do) and deletes them again.
func tryLinks() (steps, cleanup []Step) {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: vethName}, PeerName: vethPeer}
	vethErr := netlink.LinkAdd(veth)
	steps = append(steps, stepOf(stepVeth, vethErr))

	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}}
	brErr := netlink.LinkAdd(br)
	steps = append(steps, stepOf(stepBridge, brErr))
	if vethErr == nil && brErr == nil {
		err := netlink.LinkSetMaster(veth, br)
		if err == nil {
			err = netlink.LinkSetUp(br)
		}
		steps = append(steps, stepOf(stepBridgePort, err))
	}

	vx := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: vxlanName}, VxlanId: 1, Port: 8472}
	vxErr := netlink.LinkAdd(vx)
	steps = append(steps, stepOf(stepVxlan, vxErr))
	if vxErr == nil {
		steps = append(steps, stepOf(stepVxlanUp, netlink.LinkSetUp(vx)))
	}

	// Not deleted: the namespace is this op's own (netnsOp refuses to run
	// in its parent's) and the kernel removes its links when the op exits,
	// off the scan's path. Each RTM_DELLINK waits for synchronize_net: the
	// three deletions took ~100 ms of this probe's ~135 ms on a 2-vCPU VM.
	return steps, nil
}

// restoreTrial is every trial of tryIptables as one iptables-restore
// input: the same chains, rules and matches, committed per table by the
// same kernel interface (nf_tables batch or the x_tables replace), with
// --noflush reading each table first as -S does.
const restoreTrial = `*filter
:` + chainName + ` - [0:0]
-A ` + chainName + ` -j RETURN
-A ` + chainName + ` -m comment --comment "kprobe test" -j RETURN
-A ` + chainName + ` -m conntrack --ctstate ESTABLISHED -j RETURN
-A ` + chainName + ` -m addrtype --dst-type LOCAL -j RETURN
-A ` + chainName + ` -m statistic --mode random --probability 0.5 -j RETURN
-A ` + chainName + ` -p tcp -m multiport --dports 80,443 -j RETURN
-A ` + chainName + ` -j MARK --set-xmark 0x4000/0x4000
COMMIT
*nat
:` + chainName + ` - [0:0]
-A ` + chainName + ` -j MASQUERADE
-A ` + chainName + ` -p tcp -j DNAT --to-destination 192.0.2.1:80
COMMIT
`

// tryIptables tries a backend with one iptables-restore when the backend
// has one: one process instead of twelve. When that fails, or there is
// no restore binary, it removes what the restore may have committed and
// runs each trial on its own, so that a failure names the step.
func tryIptables(backend, bin, lock string) (BackendResult, []Step) {
	if restore := bin + "-restore"; isFile(restore) {
		if s := runIptablesInput(restore, lock, "restore", restoreTrial, "--noflush"); s.OK {
			res := BackendResult{Backend: backend, Bin: bin}
			for _, name := range []string{stepList, stepChain, stepRule, stepComment, stepConntrack,
				stepAddrtype, stepStatistic, stepMultiport, stepMark, stepNatList, stepNatChain, stepMasquerade, stepDNAT} {
				res.Steps = append(res.Steps, Step{Name: name, OK: true})
			}
			// The chains are left to the namespace's end, like the links
			// (tryLinks): deleting them in nf_tables waits ~35 ms here.
			return res, nil
		}
		for _, table := range []string{"filter", "nat"} {
			dropChain(bin, lock, table)
		}
	}
	return tryIptablesSteps(backend, bin, lock)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// tryIptablesSteps lists the tables and builds a chain with the rules
// kube-proxy and flannel write, one process per step, then flushes and
// deletes the chains.
func tryIptablesSteps(backend, bin, lock string) (BackendResult, []Step) {
	res := BackendResult{Backend: backend, Bin: bin}
	run := func(name string, args ...string) bool {
		s := runIptables(bin, lock, name, args...)
		res.Steps = append(res.Steps, s)
		return s.OK
	}
	var cleanup []Step
	if !run(stepList, "-t", "filter", "-S") {
		return res, nil
	}
	if run(stepChain, "-t", "filter", "-N", chainName) {
		if run(stepRule, "-t", "filter", "-A", chainName, "-j", "RETURN") {
			run(stepComment, "-t", "filter", "-A", chainName, "-m", "comment", "--comment", "kprobe test", "-j", "RETURN")
			run(stepConntrack, "-t", "filter", "-A", chainName, "-m", "conntrack", "--ctstate", "ESTABLISHED", "-j", "RETURN")
			run(stepAddrtype, "-t", "filter", "-A", chainName, "-m", "addrtype", "--dst-type", "LOCAL", "-j", "RETURN")
			run(stepStatistic, "-t", "filter", "-A", chainName, "-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "RETURN")
			run(stepMultiport, "-t", "filter", "-A", chainName, "-p", "tcp", "-m", "multiport", "--dports", "80,443", "-j", "RETURN")
			run(stepMark, "-t", "filter", "-A", chainName, "-j", "MARK", "--set-xmark", "0x4000/0x4000")
		}
		cleanup = append(cleanup, dropChain(bin, lock, "filter")...)
	}
	if run(stepNatList, "-t", "nat", "-S") && run(stepNatChain, "-t", "nat", "-N", chainName) {
		if run(stepMasquerade, "-t", "nat", "-A", chainName, "-j", "MASQUERADE") {
			run(stepDNAT, "-t", "nat", "-A", chainName, "-p", "tcp", "-j", "DNAT", "--to-destination", "192.0.2.1:80")
		}
		cleanup = append(cleanup, dropChain(bin, lock, "nat")...)
	}
	return res, cleanup
}

func dropChain(bin, lock, table string) []Step {
	var failed []Step
	for _, op := range []string{"-F", "-X"} {
		if s := runIptables(bin, lock, "delete "+table+" "+op, "-t", table, op, chainName); !s.OK {
			failed = append(failed, s)
		}
	}
	return failed
}

func runIptables(bin, lock, name string, args ...string) Step {
	return runIptablesInput(bin, lock, name, "", args...)
}

// runIptablesInput runs an iptables command with stdin, as a step.
func runIptablesInput(bin, lock, name, stdin string, args ...string) Step {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	// A private lock file: the host's /run/xtables.lock may be held, or not
	// writable from a user namespace, and this namespace is ours alone.
	cmd.Env = append(os.Environ(), "XTABLES_LOCKFILE="+lock, "LC_ALL=C")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	if err == nil {
		return Step{Name: name, OK: true}
	}
	msg, errno := IptablesError(errb.String())
	if msg == "" {
		msg = err.Error()
	}
	if errno == "" {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			errno = probes.Errno(err)
		}
	}
	return Step{Name: name, Errno: errno, Msg: msg}
}
