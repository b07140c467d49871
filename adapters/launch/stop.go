package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kprobe/kprobe/adapters/hoststate"
	"github.com/kprobe/kprobe/adapters/pki"
	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/adapters/upstream"
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
	st, err := supervise.ReadState(dataDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if st == nil {
		if !purge {
			return fmt.Errorf("%w (%s has no run/state.json)", ErrNotRunning, dataDir)
		}
	} else {
		if st.Alive() {
			if cl, err := newClient(filepath.Join(dataDir, "kubeconfigs", pki.AdminConf)); err == nil {
				dctx, cancel := context.WithTimeout(ctx, 25*time.Second)
				if cl.readyz(dctx) == nil {
					say("draining the node so the kubelet tears down the pods' networks...")
					if err := cl.drainNode(dctx, nodeName(dataDir), 20*time.Second); err != nil {
						say("  %v (going on)", err)
					}
				}
				cancel()
			}
			say("stopping the processes (supervisor pid %d)...", st.SupervisorPID)
		}
		if err := supervise.Stop(dataDir, 90*time.Second); err != nil && !errors.Is(err, ErrNotRunning) {
			return err
		}
		killPodProcesses(say)
		killShims(upstream.ContainerdSocket(dataDir), say)
		if spec, err := supervise.ReadSpec(dataDir); err == nil {
			for _, p := range spec.Processes {
				if p.Name == "kube-proxy" {
					if o, err := exec.CommandContext(ctx, p.Path, "--cleanup").CombinedOutput(); err != nil {
						say("kube-proxy --cleanup: %v: %s", err, strings.TrimSpace(string(o)))
					}
				}
			}
		}
	}
	var undoErrs []error
	if snap, err := hoststate.Load(snapshotPath(dataDir)); err == nil {
		done, errs := snap.Undo(ctx, hoststate.Scope{DataDir: dataDir, Bridge: upstream.BridgeName})
		for _, d := range done {
			say("  %s", d)
		}
		undoErrs = errs
		if len(errs) == 0 {
			_ = os.Remove(snapshotPath(dataDir))
		}
	}
	if purge {
		if err := os.RemoveAll(dataDir); err != nil {
			undoErrs = append(undoErrs, fmt.Errorf("purge %s: %w", dataDir, err))
		} else {
			say("removed %s", dataDir)
		}
		if sock := upstream.ContainerdSocket(dataDir); !strings.HasPrefix(sock, dataDir) {
			_ = os.RemoveAll(filepath.Dir(sock))
		}
	}
	if len(undoErrs) > 0 {
		return fmt.Errorf("stopped, but could not undo everything: %w", errors.Join(undoErrs...))
	}
	say("stopped")
	return nil
}

// nodeName is the node a launch registered.
func nodeName(dataDir string) string {
	if r, err := LoadResult(dataDir); err == nil && r.Node != "" {
		return r.Node
	}
	return upstream.DefaultNodeName
}

// killPodProcesses kills what still runs in the kubelet's cgroups (pods
// the kubelet had no time to delete).
func killPodProcesses(say func(string, ...any)) {
	for _, pid := range pids() {
		cg, err := os.ReadFile("/proc/" + pid + "/cgroup")
		if err != nil || !strings.Contains(string(cg), "/kubepods") {
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

// Status is what `kprobe status` shows.
type Status struct {
	DataDir    string                   `json:"dataDir"`
	Running    bool                     `json:"running"`
	Phase      string                   `json:"phase,omitempty"`
	Engine     string                   `json:"engine,omitempty"`
	Processes  []supervise.ProcessState `json:"processes,omitempty"`
	APIReady   bool                     `json:"apiReady"`
	NodeReady  bool                     `json:"nodeReady"`
	Endpoint   string                   `json:"endpoint,omitempty"`
	Kubeconfig string                   `json:"kubeconfig,omitempty"`
	Problem    string                   `json:"problem,omitempty"`
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
		return s, nil
	}
	s.Endpoint = "https://127.0.0.1:6443"
	if _, err := os.Stat(KubeconfigPath(dataDir)); err == nil {
		s.Kubeconfig = KubeconfigPath(dataDir)
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
	if err := cl.nodeReady(qctx, nodeName(dataDir)); err != nil {
		s.Problem = err.Error()
	} else {
		s.NodeReady = true
	}
	return s, nil
}
