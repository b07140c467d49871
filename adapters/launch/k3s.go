package launch

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/hoststate"
	"github.com/kprobe/kprobe/adapters/k3s"
	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/adapters/upstream"
)

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// K3s launches `k3s server` with the plan rendered as k3s's config.yaml,
// under the same supervisor, and waits for the same readiness.
func K3s(ctx context.Context, plan *adapters.Plan, o Options) (*Result, error) {
	res, err := k3sLaunch(ctx, plan, o)
	return res, interrupted(ctx, res, o.DataDir, err)
}

func k3sLaunch(ctx context.Context, plan *adapters.Plan, o Options) (*Result, error) {
	ctx, cancel, res, t := begin(ctx, adapters.EngineK3s, plan, o)
	defer cancel()
	r := &phaseContext{plan: plan, o: o, res: res, t: t}
	return runPhases(ctx, r, k3sPhases(r))
}

// k3sPhases is k3s's launch: preflight, host shims, prepare (host
// snapshot, config.yaml), the supervisor running `k3s server`, then
// readiness of the API and, unless the plan is agentless (T3), of a node
// and a pod.
func k3sPhases(r *phaseContext) []phase {
	kubeconfig := launchhost.KubeconfigPath(r.o.DataDir)
	ps := []phase{
		{name: "preflight", detail: "k3s binary, ports, data dir", do: func(ctx context.Context, r *phaseContext) error {
			var err error
			if r.k3sBin, err = launchhost.FindK3sPath(r.o.BinDir); err != nil {
				return err
			}
			if r.o.PortOffset != 0 {
				return &PreflightError{Problems: []string{"--port-offset is for the kubernetes engine (--engine kubernetes)"}}
			}
			r.lock, err = Preflight(r.o.DataDir, []int{6443, 10250})
			return err
		}},
		hostShimsStep(),
		{name: "prepare", detail: "host snapshot, config.yaml", fail: failUndoShims, do: func(ctx context.Context, r *phaseContext) error {
			bind, why, err := launchhost.APIBindAddress(r.o.BindAddress, r.o.Nodes, r.plan, launchhost.NodeIP())
			if err != nil {
				return err
			}
			r.plan.Notes = append(r.plan.Notes, k3sBindNote(why))
			rendered, err := k3s.Render(r.plan, k3s.Options{DataDir: r.o.DataDir, Kubeconfig: kubeconfig, WriteKubeconfigMode: "0600", BindAddress: bind})
			if err == nil {
				err = writeK3sFiles(ctx, r.plan, r.o.DataDir, rendered)
			}
			if err != nil {
				return err
			}
			if !r.plan.Has("disable-agent") && !r.plan.Has("disable-kube-proxy") {
				guardKubeProxyMetrics(ctx, r.plan)
			}
			_, ns := splitShims(r.plan)
			return supervise.WriteSpec(&supervise.Spec{Engine: adapters.EngineK3s, DataDir: r.o.DataDir, Shims: ns, ReadyBy: readyBy(ctx), Processes: []supervise.Process{{
				Name: "k3s", Path: r.k3sBin, Args: rendered.Args, Env: rendered.Env,
				// k3s's kubeconfig names the bind address too, or
				// loopback when it binds every address.
				Ready:       supervise.Ready{HTTP: "https://" + net.JoinHostPort(upstream.APIHost(bind), "6443") + "/readyz", Timeout: 2 * time.Minute},
				StopTimeout: 30 * time.Second, MaxRestarts: 2,
			}}})
		}},
		supervisorPhase("start k3s server"),
		{name: "api", detail: "k3s writes its kubeconfig and /readyz answers", fail: failLeaveRunning, do: func(ctx context.Context, r *phaseContext) error {
			err := waitFor(ctx, r.failed, func() error { _, e := os.Stat(kubeconfig); return e })
			if err == nil {
				r.cl, err = newClient(kubeconfig)
			}
			if err == nil {
				err = waitFor(ctx, r.failed, func() error { return r.cl.readyz(ctx) })
			}
			if err == nil {
				r.res.Kubeconfig = kubeconfig
				r.res.Shims = append(r.res.Shims, nsShimOutcomes(r.o.DataDir)...)
			}
			return err
		}},
	}
	ready := phase{do: func(_ context.Context, r *phaseContext) error { r.res.Ready = true; return nil }}
	if r.plan.Has("disable-agent") {
		return append(ps, ready)
	}
	return append(ps,
		phase{name: "node", detail: "a node Ready", fail: failLeaveRunning, do: func(ctx context.Context, r *phaseContext) error {
			return waitFor(ctx, r.failed, func() error { return r.cl.anyNodeReady(ctx) })
		}},
		phase{name: "pod", detail: "probe pod Running", fail: failLeaveRunning, do: func(ctx context.Context, r *phaseContext) error {
			if err := waitFor(ctx, r.failed, func() error { return r.cl.ensureDefaultServiceAccount(ctx) }); err != nil {
				return err
			}
			if err := r.cl.createProbePod(ctx); err != nil {
				return err
			}
			if err := waitFor(ctx, r.failed, func() error { return r.cl.probePodRunning(ctx) }); err != nil {
				return err
			}
			r.cl.deleteProbePod(ctx)
			return nil
		}},
		ready,
	)
}

func writeK3sFiles(ctx context.Context, plan *adapters.Plan, dataDir string, r *k3s.Rendered) error {
	snap, err := hoststate.Take(ctx)
	if err != nil {
		return err
	}
	if err := snap.LoopbackUp(ctx); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "run"), 0o755); err != nil {
		return err
	}
	if err := snap.Save(snapshotPath(dataDir)); err != nil {
		return err
	}
	if err := makeNestedCgroupRoot(plan, snap, dataDir); err != nil {
		return err
	}
	// k3s runs modprobe br_netfilter itself at start, unjournaled: load
	// it first, through the journal, so that stop unloads it.
	if err := loadModules(plan, snap, dataDir); err != nil {
		return err
	}
	// The kubelet inside k3s sets its kernel tunables as well: set them
	// first, through the journal, so that stop restores them.
	if _, _, err := snap.ApplyKubeletSysctls(func() error { return snap.Save(snapshotPath(dataDir)) }); err != nil {
		return err
	}
	files := map[string][]byte{r.ConfigPath: r.Config}
	if r.ContainerdTemplatePath != "" {
		files[r.ContainerdTemplatePath] = r.ContainerdTemplate
	}
	for p, data := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeAtomic(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// k3sBindNote is APIBindAddress's note as it holds for k3s: its
// supervisor takes 6443 and proxies to its kube-apiserver, which k3s runs
// with --anonymous-auth=false.
func k3sBindNote(why string) string {
	why = strings.Replace(why, "kube-apiserver binds", "k3s binds", 1)
	return strings.Replace(why, "anonymous requests reach /livez, /readyz and /healthz only",
		"k3s's kube-apiserver refuses anonymous requests (--anonymous-auth=false)", 1)
}
