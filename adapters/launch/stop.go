package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/datadir"
	"github.com/kprobe/kprobe/adapters/hoststate"
	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/pki"
	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/adapters/upstream"
	"github.com/kprobe/kprobe/probes/procfs"
	"github.com/kprobe/kprobe/profiles"
)

// ErrNotRunning means nothing was launched from the data dir.
var ErrNotRunning = supervise.ErrNotRunning

// Stop terminates every process a launch started, lets the kubelet tear
// its pods down first (so CNI DEL runs), and undoes what the cluster
// changed on the host since the launch's snapshot: mounts, netns,
// links, iptables chains, kubepods cgroups and sysctls. With purge, the
// data dir is removed too. Every action is reported on out.
func Stop(ctx context.Context, dataDir string, purge bool, out io.Writer) error {
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	// Only a data dir kprobe made is stopped or purged: its state names
	// the processes stop signals and its journal what stop undoes.
	if err := datadir.Check(dataDir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (%s does not exist)", ErrNotRunning, dataDir)
	} else if err != nil {
		return err
	}
	st, err := supervise.ReadState(dataDir)
	// A supervisor that holds the lock but has written no state yet is
	// starting (a launch interrupted right after it detached it): wait
	// for its state, then stop it like any other.
	for i := 0; errors.Is(err, os.ErrNotExist) && i < 100 && supervise.Locked(dataDir); i++ {
		time.Sleep(100 * time.Millisecond)
		st, err = supervise.ReadState(dataDir)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if st == nil {
		// No supervisor ever ran; a launch stopped before it (an
		// interrupted one) may still have journaled host changes.
		if !purge && !fileExists(snapshotPath(dataDir)) && !fileExists(hostJournal(dataDir)) {
			return fmt.Errorf("%w (%s has no run/state.json)", ErrNotRunning, dataDir)
		}
	} else {
		// A control-plane-only launch (T3) has no node to drain.
		if st.Alive() && nodeName(dataDir) != "" {
			if cl, err := newClient(filepath.Join(dataDir, "kubeconfigs", pki.AdminConf)); err == nil {
				dctx, cancel := context.WithTimeout(ctx, 25*time.Second)
				if cl.readyz(dctx) == nil {
					say("draining the node so the kubelet tears down the pods' networks...")
					if err := drainNodes(dctx, cl, dataDir, 20*time.Second); err != nil {
						say("  %v (going on)", err)
					}
				}
				cancel()
			}
		}
		if st.Alive() {
			say("stopping the processes (supervisor pid %d)...", st.SupervisorPID)
		}
		if err := supervise.Stop(dataDir, 90*time.Second); err != nil && !errors.Is(err, ErrNotRunning) {
			return err
		}
		killPodProcesses(say)
		if snap, err := hoststate.Load(snapshotPath(dataDir)); err == nil {
			for _, r := range snap.NestedCgroupRoots() { // R-CGROUP-NEST's root
				killCgroupProcesses(r+"/", say)
			}
		}
		killShims(upstream.ContainerdSocket(dataDir), say)
		killWorkerLeftovers(dataDir, say)
		if spec, err := supervise.ReadSpec(dataDir); err == nil {
			for _, p := range spec.Processes {
				// kube-control-plane may run both, each cleans up alone.
				for _, c := range []struct {
					component string
					args      []string
				}{
					{upstream.NetworkPolicyProcessName, upstream.NetworkPolicyCleanupArgs(upstream.ComponentArgs(p, upstream.NetworkPolicyProcessName))},
					{"kube-proxy", []string{"--cleanup"}},
				} {
					if !upstream.RunsComponent(p, c.component) {
						continue
					}
					path, args := upstream.ComponentCommand(p, c.component, c.args...)
					if o, err := exec.CommandContext(ctx, path, args...).CombinedOutput(); err != nil {
						say("%s --cleanup: %v: %s", c.component, err, strings.TrimSpace(string(o)))
					}
				}
			}
		}
	}
	var undoErrs []error
	// The namespace shims went with the supervisor's mount namespace;
	// what they left on disk goes now.
	if err := undoShims(ctx, nsJournal(dataDir), say); err != nil {
		undoErrs = append(undoErrs, err)
	}
	if snap, err := hoststate.Load(snapshotPath(dataDir)); err == nil {
		sc := hostScope(dataDir)
		done, errs := snap.Undo(ctx, sc)
		for _, d := range done {
			say("  %s", d)
		}
		undoErrs = append(undoErrs, errs...)
		// The journal's own check: what is still changed is reported,
		// whatever Undo thought it did.
		left := snap.Leftovers(ctx, sc)
		for _, l := range left {
			undoErrs = append(undoErrs, errors.New("not undone: "+l))
		}
		if len(errs)+len(left) == 0 {
			_ = os.Remove(snapshotPath(dataDir))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		undoErrs = append(undoErrs, fmt.Errorf("the host journal %s cannot be read, nothing on the host was undone: %w", snapshotPath(dataDir), err))
	}
	// What --merge-kubeconfig added to the user's kubeconfig.
	if did, err := unmergeKubeconfig(dataDir); err != nil {
		undoErrs = append(undoErrs, fmt.Errorf("kubeconfig: %w", err))
	} else if did != "" {
		say("%s", did)
	}
	// Last, as they came first: the tmpfs data dir and the cgroup moves.
	if err := undoShims(ctx, hostJournal(dataDir), say); err != nil {
		undoErrs = append(undoErrs, err)
	}
	if purge && len(undoErrs) > 0 {
		say("kept %s: it holds the host journal that a second `kprobe stop --purge --data-dir %s` retries from", dataDir, dataDir)
	} else if purge {
		if err := datadir.Purge(dataDir); err != nil {
			undoErrs = append(undoErrs, fmt.Errorf("purge %s: %w", dataDir, err))
		} else {
			say("removed %s", dataDir)
		}
		if sock := upstream.ContainerdSocket(dataDir); !strings.HasPrefix(sock, dataDir) {
			_ = os.RemoveAll(filepath.Dir(sock))
		}
	}
	if len(undoErrs) > 0 {
		var lines []string
		for _, e := range undoErrs {
			lines = append(lines, "  - "+e.Error())
		}
		return fmt.Errorf("%w:\n%s", ErrNotUndone, strings.Join(lines, "\n"))
	}
	say("stopped")
	return nil
}

// ErrNotUndone: the processes stopped but the host is not as it was
// before the launch; the error lists what is left.
var ErrNotUndone = errors.New("stopped, but could not undo everything")

// hostScope says which new host objects are this data dir's cluster's.
func hostScope(dataDir string) hoststate.Scope {
	sc := hoststate.Scope{DataDir: dataDir, Bridge: upstream.BridgeName, CNINetwork: upstream.CNINetwork}
	if spec, err := supervise.ReadSpec(dataDir); err == nil && spec.Engine == adapters.EngineK3s {
		sc.CNINetwork = "cbr0" // k3s's flannel CNI network
	}
	return sc
}

// nodeName is the node a launch registered.
func nodeName(dataDir string) string {
	r, err := LoadResult(dataDir)
	switch {
	case err == nil && r.Rung == string(profiles.T3):
		return "" // control plane only
	case err == nil && r.Node != "":
		return r.Node
	}
	return upstream.DefaultNodeName
}

// killPodProcesses kills what still runs in the kubelet's cgroups (pods
// the kubelet had no time to delete). Only cgroups at the root of this
// cgroup namespace (":/kubepods"): a cluster inside a sandbox with its own
// cgroup namespace shows as "/<container>/kubepods" here and is not ours.
func killPodProcesses(say func(string, ...any)) { killCgroupProcesses("/kubepods", say) }

// killCgroupProcesses kills every process with a cgroup path (in
// /proc/<pid>/cgroup, any hierarchy) that begins with prefix.
func killCgroupProcesses(prefix string, say func(string, ...any)) {
	for _, pid := range pids() {
		f, err := os.Open("/proc/" + pid + "/cgroup")
		if err != nil {
			continue
		}
		ms, _ := procfs.ParseCgroup(f)
		f.Close()
		if !slices.ContainsFunc(ms, func(m procfs.CgroupMember) bool { return strings.HasPrefix(m.Path, prefix) }) {
			continue
		}
		if n, err := strconv.Atoi(pid); err == nil {
			_ = syscall.Kill(n, syscall.SIGKILL)
			say("  killed leftover pod process %s", pid)
		}
	}
}

// killShims kills containerd-shim processes of this cluster's containerd.
func killShims(socket string, say func(string, ...any)) {
	for _, pid := range pids() {
		cmd, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(cmd), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && args[i+1] == socket {
				if n, err := strconv.Atoi(pid); err == nil {
					_ = syscall.Kill(n, syscall.SIGKILL)
					say("  killed leftover containerd shim %s", pid)
				}
			}
		}
	}
}

func pids() []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// GetStatus reads the supervisor's state and asks the API.
func GetStatus(ctx context.Context, dataDir string) (*Status, error) {
	s := &Status{DataDir: dataDir}
	st, err := supervise.ReadState(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	s.Running, s.Phase, s.Engine, s.Processes = st.Alive(), st.Phase, st.Engine, st.Processes
	for i := range s.Processes {
		p := &s.Processes[i]
		if (p.Status == supervise.Running || p.Status == supervise.Starting) && !supervise.SameProcess(p.PID, p.StartTick) {
			p.Status, p.Error = supervise.Exited, "no longer running"
		}
	}
	if !s.Running {
		switch st.Phase {
		case "stopped", "failed":
		default:
			// It died without stopping (killed, crashed): its state
			// still says what it was doing then.
			s.Phase = "supervisor gone (was " + st.Phase + ")"
			s.Problem = fmt.Sprintf("the supervisor (pid %d) is gone: nothing restarts a component that dies; `kprobe stop --data-dir %s` stops what is left and undoes the host changes",
				st.SupervisorPID, dataDir)
		}
		return s, nil
	}
	var running []ProcessRSS
	for _, p := range s.Processes {
		if p.Status == supervise.Running || p.Status == supervise.Starting {
			running = append(running, ProcessRSS{Name: p.Name, PID: p.PID})
		}
	}
	s.Memory = memory(st.SupervisorPID, running)
	s.Endpoint = apiEndpoint(filepath.Join(dataDir, "kubeconfigs", pki.AdminConf))
	if _, err := os.Stat(launchhost.KubeconfigPath(dataDir)); err == nil {
		s.Kubeconfig = launchhost.KubeconfigPath(dataDir)
	}
	cl, err := newClient(filepath.Join(dataDir, "kubeconfigs", pki.AdminConf))
	if err != nil {
		s.Problem = err.Error()
		return s, nil
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := cl.readyz(qctx); err != nil {
		s.Problem = err.Error()
		return s, nil
	}
	s.APIReady = true
	if r, err := LoadResult(dataDir); err == nil {
		s.SimulatedNodes = r.SimulatedNodes
		for _, n := range r.SimulatedNodes {
			if cl.nodeReady(qctx, n) == nil {
				s.SimulatedReady++
			}
		}
	}
	node := nodeName(dataDir)
	if node == "" {
		return s, nil // control plane only (T3)
	}
	s.Nodes, s.NodesReady = nodesStatus(qctx, cl, dataDir, node)
	if err := cl.nodeReady(qctx, node); err != nil {
		s.Problem = err.Error()
	} else {
		s.NodeReady = true
	}
	return s, nil
}
