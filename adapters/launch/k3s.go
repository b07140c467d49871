package launch

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/hoststate"
	"github.com/kprobe/kprobe/adapters/k3s"
	"github.com/kprobe/kprobe/adapters/supervise"
)

// FindK3s says whether a k3s binary is available, with how to get one.
func FindK3s(binDir string) error {
	_, err := findK3s(binDir)
	return err
}

// findK3s looks in --bin-dir first, then where lookupK3s looks.
func findK3s(binDir string) (string, error) {
	flag := ""
	if binDir != "" {
		if p := filepath.Join(binDir, "k3s"); fileExists(p) {
			flag = p
		}
	}
	return lookupK3s(flag)
}

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

	end := t.begin("preflight", "k3s binary, ports, data dir")
	bin, err := findK3s(o.BinDir)
	var lock *os.File
	if err == nil {
		lock, err = Preflight(o.DataDir, []int{6443, 10250})
	}
	defer closeLock(lock)
	end(err)
	if err != nil {
		return res, err
	}
	if err := hostShimsPhase(ctx, t, plan, o, res); err != nil {
		return res, err
	}
	end = t.begin("prepare", "host snapshot, config.yaml")
	kubeconfig := KubeconfigPath(o.DataDir)
	r, err := k3s.Render(plan, k3s.Options{DataDir: o.DataDir, Kubeconfig: kubeconfig, WriteKubeconfigMode: "0600"})
	if err == nil {
		err = writeK3sFiles(ctx, o.DataDir, r)
	}
	if err == nil {
		_, ns := splitShims(plan)
		err = supervise.WriteSpec(&supervise.Spec{Engine: adapters.EngineK3s, DataDir: o.DataDir, Shims: ns, Processes: []supervise.Process{{
			Name: "k3s", Path: bin, Args: r.Args, Env: r.Env,
			Ready:       supervise.Ready{HTTP: "https://127.0.0.1:6443/readyz", Timeout: 2 * time.Minute},
			StopTimeout: 30 * time.Second, MaxRestarts: 2,
		}}})
	}
	end(err)
	if err != nil {
		return res, undoHostShims(ctx, o.DataDir, err)
	}
	end = t.begin("supervisor", "start k3s server")
	pid, err := detach(o, lock)
	end(err)
	if err != nil {
		return res, err
	}
	failed := newFailure()
	go watchSupervisor(ctx, o.DataDir, pid, failed)
	watchLogs(ctx, o, failed)
	end = t.begin("api", "k3s writes its kubeconfig and /readyz answers")
	err = waitFor(ctx, failed, func() error { _, e := os.Stat(kubeconfig); return e })
	var cl *client
	if err == nil {
		cl, err = newClient(kubeconfig)
	}
	if err == nil {
		err = waitFor(ctx, failed, func() error { return cl.readyz(ctx) })
	}
	end(err)
	if err != nil {
		return res, leftRunning(err, o.DataDir)
	}
	res.Kubeconfig = kubeconfig
	res.Shims = append(res.Shims, nsShimOutcomes(o.DataDir)...)
	if plan.Has("disable-agent") {
		res.Ready = true
		return res, nil
	}
	end = t.begin("node", "a node Ready")
	err = waitFor(ctx, failed, func() error { return cl.anyNodeReady(ctx) })
	end(err)
	if err != nil {
		return res, leftRunning(err, o.DataDir)
	}
	end = t.begin("pod", "probe pod Running")
	err = waitFor(ctx, failed, func() error { return cl.ensureDefaultServiceAccount(ctx) })
	if err == nil {
		err = cl.createProbePod(ctx)
	}
	if err == nil {
		err = waitFor(ctx, failed, func() error { return cl.probePodRunning(ctx) })
	}
	end(err)
	if err != nil {
		return res, leftRunning(err, o.DataDir)
	}
	res.Ready = true
	return res, nil
}

func writeK3sFiles(ctx context.Context, dataDir string, r *k3s.Rendered) error {
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
