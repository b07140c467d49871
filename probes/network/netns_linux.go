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
	"regexp"
	"slices"
	"strconv"
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
	// The plain iptables' --version names the default backend (a fact)
	// and, where iptables-nft or iptables-legacy is missing, the binary
	// to test for it. When both are there, it runs beside the trials,
	// started once the op has started (or could not): a process is tens
	// of ms where processes are expensive (gVisor), and the op's trials
	// are the longer chain.
	plain := lookPath(env, "iptables")
	def, version := "", probes.Evidence{}
	waitVersion := func() {}
	startVersion := func() {}
	if plain != "" {
		if lookPath(env, "iptables-nft") != "" && lookPath(env, "iptables-legacy") != "" {
			done := make(chan struct{})
			var once sync.Once
			startVersion = func() {
				once.Do(func() {
					go func() {
						defer close(done)
						def, version = plainVersion(ctx, env, plain)
					}()
				})
			}
			waitVersion = func() { startVersion(); <-done }
		} else {
			def, version = plainVersion(ctx, env, plain)
		}
	}
	spawnCtx := probes.OnOpStarted(ctx, startVersion)
	bins := iptablesBinaries(env, plain, def)
	in := netnsInput{Bins: bins, NetAdmin: netAdmin(env, o)}

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
		out, err = probes.SpawnOp(spawnCtx, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}, OpNetns, args...)
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
		out, uerr = probes.SpawnOp(spawnCtx, attr, OpNetns, args...)
		if uerr != nil {
			o.Note("clone(CLONE_NEWUSER|CLONE_NEWNET)", "", uerr)
			in.CloneErr += "; CLONE_NEWUSER|CLONE_NEWNET: " + probes.Errno(uerr)
			in.CloneErrno = probes.Errno(uerr)
			in.Mode = "none"
		}
		err = uerr
	}
	waitVersion()
	in.Default = def
	if version.Source != "" {
		// First, where it stood when the query ran before the trials.
		o.Evidence = append([]probes.Evidence{version}, o.Evidence...)
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
// and flannel do) in the op's own network namespace, which takes them
// along when it ends.
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

// restoreBlock is one trial of tryIptables as an iptables-restore block:
// its own *table ... COMMIT, so that the kernel takes or refuses it alone
// (one nf_tables batch or one x_tables replace, as the iptables command
// that adds the same rule), and iptables-restore's "line N failed" names
// it. The first block of each table declares the chain (and with it
// lists the table, as -S does, because --noflush reads it first).
type restoreBlock struct {
	table string
	steps []string // the steps the block decides; two or three for a chain block
	lines []string // the block's rule lines, between *table and COMMIT
	needs string   // a step that must have worked for the block to be tried
}

// restoreBlocks are the trials of tryIptablesSteps, the same chains,
// rules and matches, in the same order.
var restoreBlocks = []restoreBlock{
	{table: "filter", steps: []string{stepList, stepChain, stepRule},
		lines: []string{":" + chainName + " - [0:0]", "-A " + chainName + " -j RETURN"}},
	{table: "filter", steps: []string{stepComment}, needs: stepRule,
		lines: []string{"-A " + chainName + ` -m comment --comment "kprobe test" -j RETURN`}},
	{table: "filter", steps: []string{stepConntrack}, needs: stepRule,
		lines: []string{"-A " + chainName + " -m conntrack --ctstate ESTABLISHED -j RETURN"}},
	{table: "filter", steps: []string{stepAddrtype}, needs: stepRule,
		lines: []string{"-A " + chainName + " -m addrtype --dst-type LOCAL -j RETURN"}},
	{table: "filter", steps: []string{stepStatistic}, needs: stepRule,
		lines: []string{"-A " + chainName + " -m statistic --mode random --probability 0.5 -j RETURN"}},
	{table: "filter", steps: []string{stepMultiport}, needs: stepRule,
		lines: []string{"-A " + chainName + " -p tcp -m multiport --dports 80,443 -j RETURN"}},
	{table: "filter", steps: []string{stepMark}, needs: stepRule,
		lines: []string{"-A " + chainName + " -j MARK --set-xmark 0x4000/0x4000"}},
	{table: "nat", steps: []string{stepNatList, stepNatChain},
		lines: []string{":" + chainName + " - [0:0]"}},
	{table: "nat", steps: []string{stepMasquerade}, needs: stepNatChain,
		lines: []string{"-A " + chainName + " -j MASQUERADE"}},
	{table: "nat", steps: []string{stepDNAT}, needs: stepMasquerade,
		lines: []string{"-A " + chainName + " -p tcp -j DNAT --to-destination 192.0.2.1:80"}},
}

// restoreInput renders blocks as one iptables-restore input and returns,
// for each block, the last line number it occupies (its COMMIT).
func restoreInput(blocks []restoreBlock) (string, []int) {
	var b strings.Builder
	ends := make([]int, len(blocks))
	line := 0
	for i, bl := range blocks {
		b.WriteString("*" + bl.table + "\n")
		for _, l := range bl.lines {
			b.WriteString(l + "\n")
		}
		b.WriteString("COMMIT\n")
		line += len(bl.lines) + 2
		ends[i] = line
	}
	return b.String(), ends
}

// restoreLineRE finds the input line iptables-restore stopped at: a
// refused commit (legacy: "iptables-restore: line 7 failed"; nft names
// the rule: "line 6: RULE_APPEND failed (Invalid argument): ...") or a
// rule it could not parse ("Error occurred at line: 5").
var restoreLineRE = regexp.MustCompile(`line (\d+)(?: failed|: )|Error occurred at line: (\d+)`)

// failedBlock maps iptables-restore's stderr to the index of the block it
// stopped at, -1 when the stderr names no line within the input.
func failedBlock(stderr string, ends []int) int {
	m := restoreLineRE.FindStringSubmatch(stderr)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1] + m[2])
	if err != nil {
		return -1
	}
	for i, end := range ends {
		if n <= end {
			return i
		}
	}
	return -1
}

// tryIptables tries a backend with iptables-restore when the backend has
// one: one process when the kernel takes every trial, and one more per
// refused trial, instead of one per step (the step-by-step path costs a
// second per sandbox where processes are expensive, as in gVisor, and
// that is where most trials fail). Each trial is its own block, so a
// refused one is named by its line and the next run starts after it. A
// failure no line names, or one in a block that decides several steps,
// goes to the step-by-step path, so that the failed step is named.
func tryIptables(backend, bin, lock string) (BackendResult, []Step) {
	return tryIptablesBlocks(backend, bin, lock, restoreBlocks)
}

// tryIptablesBlocks is tryIptables with the blocks to try. Once legacy's
// filter chain has taken its first rule and a block after it was
// refused, the rule blocks left are independent of each other (each is
// one x_tables replace of the table; a refused one commits nothing): each
// then runs in a restore of its own, all at once, beside one run of the
// rest, instead of one run per refused block in turn (six in gVisor). -w
// makes them take legacy's xtables lock in turn, which iptables-restore
// holds from a block's *table line to its COMMIT, so each block reads the
// table the one before committed. nft stays in turn: its batches check the
// ruleset's generation instead.
func tryIptablesBlocks(backend, bin, lock string, blocks []restoreBlock) (BackendResult, []Step) {
	restore := bin + "-restore"
	if !isFile(restore) {
		return tryIptablesSteps(backend, bin, lock, false)
	}
	res := BackendResult{Backend: backend, Bin: bin}
	decided := make([][]Step, len(blocks)) // the steps each block decided
	done := map[string]bool{}              // step -> ok, for the steps decided so far
	pending := make([]int, len(blocks))    // blocks to try, in order
	for i := range pending {
		pending[i] = i
	}
	var natCleanup []Step
	natStepped := false
	for len(pending) > 0 {
		// Drop blocks whose prerequisite failed, as the step path does.
		var todo []int
		for _, i := range pending {
			bl := blocks[i]
			if ok, known := done[bl.needs]; bl.needs == "" || !known || ok {
				todo = append(todo, i)
			}
		}
		if len(todo) == 0 {
			break
		}
		runs := [][]int{todo}
		if backend == "legacy" && done[stepRule] {
			runs = independentRuns(blocks, todo)
		}
		// Started from this goroutine, one after another (a start waits
		// for the exec anyway), so that each runs in this thread's network
		// namespace; then awaited together.
		type started struct {
			blocks []int
			ends   []int
			wait   func() (Step, string)
		}
		var all []started
		for _, r := range runs {
			var bls []restoreBlock
			for _, i := range r {
				bls = append(bls, blocks[i])
			}
			input, ends := restoreInput(bls)
			args := []string{"--noflush"}
			if len(runs) > 1 {
				args = append(args, "-w")
			}
			all = append(all, started{r, ends, startIptables(restore, lock, "restore", input, args...)})
		}
		// Every run ends before any outcome is judged: a fallback below
		// runs iptables itself.
		type ended struct {
			s      Step
			stderr string
		}
		outs := make([]ended, len(all))
		for k, st := range all {
			outs[k].s, outs[k].stderr = st.wait()
		}
		pending = nil
		for k, st := range all {
			s, stderr := outs[k].s, outs[k].stderr
			failed := len(st.blocks)
			if !s.OK {
				failed = failedBlock(stderr, st.ends)
				if failed < 0 && len(res.Steps) == 0 && len(done) == 0 && strings.Contains(stderr, nftInitFailed) {
					// iptables-nft-restore could not open nf_tables before
					// it read a line (gVisor: no NETLINK_NETFILTER): nothing
					// was committed, and listing the table fails the same
					// way (iptables-nft -S: "iptables: Failed to initialize
					// nft: Protocol not supported"), so the list step is
					// decided without another process.
					s.Name = stepList
					s.Msg, s.Errno = IptablesError(stderr)
					res.Steps = append(res.Steps, s)
					return res, nil
				}
				if failed < 0 {
					// Unknown what was committed: the step path lists the
					// table first and drops the chains before it tries.
					return tryIptablesSteps(backend, bin, lock, true)
				}
			}
			for _, i := range st.blocks[:failed] {
				for _, name := range blocks[i].steps {
					decided[i] = append(decided[i], Step{Name: name, OK: true})
					done[name] = true
				}
			}
			if failed == len(st.blocks) {
				continue
			}
			i := st.blocks[failed]
			bl := blocks[i]
			if len(bl.steps) > 1 {
				// A chain block: name the step that fails, one process
				// each. Nothing of this block was committed.
				if bl.table == "filter" {
					return tryIptablesSteps(backend, bin, lock, false)
				}
				natStepped = true
				decided[i], natCleanup = natSteps(bin, lock)
				for _, s := range decided[i] {
					done[s.Name] = s.OK
				}
				continue // the nat steps decided every nat block
			}
			s.Name = bl.steps[0]
			s.Msg = restoreMsg(stderr)
			decided[i] = []Step{s}
			done[s.Name] = false
			pending = append(pending, st.blocks[failed+1:]...)
		}
		if natStepped {
			pending = slices.DeleteFunc(pending, func(i int) bool { return blocks[i].table == "nat" })
		}
		slices.Sort(pending)
	}
	for _, steps := range decided {
		res.Steps = append(res.Steps, steps...)
	}
	// The chains are left to the namespace's end, like the links
	// (tryLinks): deleting them in nf_tables waits ~35 ms here.
	return res, natCleanup
}

// independentRuns splits blocks (indexes into all, in order) into runs:
// each filter rule block that needs only the chain's first rule in a run
// of its own, and the others, in order, as one run.
func independentRuns(all []restoreBlock, blocks []int) [][]int {
	var runs [][]int
	var rest []int
	for _, i := range blocks {
		bl := all[i]
		if bl.table == "filter" && bl.needs == stepRule && len(bl.steps) == 1 {
			runs = append(runs, []int{i})
			continue
		}
		rest = append(rest, i)
	}
	if len(rest) > 0 {
		runs = append(runs, rest)
	}
	return runs
}

// nftInitFailed is what iptables-nft and its restore print when they
// cannot talk to nf_tables at all, before any rule is read.
const nftInitFailed = "Failed to initialize nft"

// restoreMsg is iptables-restore's stderr on one line: the reason (nft, or
// a warning of a missing extension) and the line often come on separate
// lines, and legacy's commit failure says no more than the line.
func restoreMsg(stderr string) string {
	msg := strings.Join(strings.Fields(stderr), " ")
	if len(msg) > 240 {
		msg = msg[:240]
	}
	return msg
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// tryIptablesSteps lists the tables and builds a chain with the rules
// kube-proxy and flannel write, one process per step, then flushes and
// deletes the chains. dirty says that an earlier iptables-restore may
// have left the chains behind: they are dropped once the table lists.
func tryIptablesSteps(backend, bin, lock string, dirty bool) (BackendResult, []Step) {
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
	if dirty {
		for _, table := range []string{"filter", "nat"} {
			dropChain(bin, lock, table)
		}
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
	nat, natCleanup := natSteps(bin, lock)
	res.Steps = append(res.Steps, nat...)
	return res, append(cleanup, natCleanup...)
}

// natSteps is the nat half of tryIptablesSteps.
func natSteps(bin, lock string) (steps, cleanup []Step) {
	run := func(name string, args ...string) bool {
		s := runIptables(bin, lock, name, args...)
		steps = append(steps, s)
		return s.OK
	}
	if run(stepNatList, "-t", "nat", "-S") && run(stepNatChain, "-t", "nat", "-N", chainName) {
		if run(stepMasquerade, "-t", "nat", "-A", chainName, "-j", "MASQUERADE") {
			run(stepDNAT, "-t", "nat", "-A", chainName, "-p", "tcp", "-j", "DNAT", "--to-destination", "192.0.2.1:80")
		}
		cleanup = dropChain(bin, lock, "nat")
	}
	return steps, cleanup
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
	s, _ := runIptablesInput(bin, lock, name, "", args...)
	return s
}

// runIptablesInput runs an iptables command with stdin, as a step, and
// returns its whole stderr too (iptables-restore's "line N failed" need
// not be the first line).
func runIptablesInput(bin, lock, name, stdin string, args ...string) (Step, string) {
	return startIptables(bin, lock, name, stdin, args...)()
}

// startIptables starts what runIptablesInput runs, from the calling
// goroutine's thread (and so in its network namespace), and returns the
// func that waits for it.
func startIptables(bin, lock, name, stdin string, args ...string) func() (Step, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	cmd := exec.CommandContext(ctx, bin, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	// A private lock file: the host's /run/xtables.lock may be held, or not
	// writable from a user namespace, and this namespace is ours alone.
	cmd.Env = append(os.Environ(), "XTABLES_LOCKFILE="+lock, "LC_ALL=C")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Start()
	return func() (Step, string) {
		defer cancel()
		if err == nil {
			err = cmd.Wait()
		}
		return iptablesStep(name, err, errb.String())
	}
}

// iptablesStep is the step of an iptables run that ended with err and
// stderr.
func iptablesStep(name string, err error, stderr string) (Step, string) {
	if err == nil {
		return Step{Name: name, OK: true}, ""
	}
	msg, errno := IptablesError(stderr)
	if msg == "" {
		msg = err.Error()
	}
	if errno == "" {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			errno = probes.Errno(err)
		}
	}
	return Step{Name: name, Errno: errno, Msg: msg}, stderr
}
