package launch

import (
	"context"
	"path/filepath"
	"slices"

	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/pki"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// upstreamPhases is the kubernetes engine's launch: preflight, host shims,
// prepare (host snapshot, certificates, configuration), supervisor, then
// readiness of the API, the node, a pod, the add-ons, the worker nodes and
// kwok's nodes. The rung decides which of them run: at T3 the control
// plane is the whole cluster; at TP kprobe's node agent is the node.
func upstreamPhases(r *phaseContext) []phase {
	// agent: a kubelet and containerd run (T0-T2); processPods: kprobe's
	// node agent runs pods as processes instead (TP); neither: T3.
	agent, processPods := r.plan.Worker(), r.plan.ProcessPods()
	r.nodeName = r.o.NodeName
	if r.nodeName == "" {
		r.nodeName = upstream.DefaultNodeName
	}
	kc := filepath.Join(r.o.DataDir, "kubeconfigs", pki.AdminConf)
	ps := []phase{
		{name: "preflight", detail: preflightDetail(agent, processPods), do: func(ctx context.Context, r *phaseContext) error {
			return upstreamPreflight(r, agent, processPods)
		}},
		hostShimsStep(),
		{name: "prepare", detail: "host snapshot, certificates, configuration", fail: failUndoShims, do: func(ctx context.Context, r *phaseContext) error {
			var err error
			r.rendered, err = prepare(ctx, r.plan, r.o, r.bins, r.nodeName)
			return err
		}},
		supervisorPhase("start the processes"),
		{do: func(ctx context.Context, r *phaseContext) error {
			// Images go in as soon as containerd answers, while the
			// control plane boots.
			r.imported = make(chan error, 1)
			if agent {
				go importImages(ctx, r.t, r.failed, r.ctr, r.rendered.Socket, []string{r.pauseTar, r.busyboxTar}, r.imported)
			} else {
				r.imported <- nil
			}
			r.workers = startWorkers(ctx, r.t, r.plan, r.o, r.ctr, kc)
			return nil
		}},
		{name: "api", detail: "kube-apiserver /readyz", fail: failLeaveRunning, do: func(ctx context.Context, r *phaseContext) error {
			var err error
			if r.cl, err = newClient(kc); err != nil {
				return err
			}
			if err := waitFor(ctx, r.failed, func() error { return r.cl.readyz(ctx) }); err != nil {
				return err
			}
			if err := r.cl.ensureDefaultServiceAccount(ctx); err != nil || !processPods {
				return err
			}
			return r.cl.grantProcessPods(ctx, r.nodeName)
		}},
		{fail: failLeaveRunning, do: func(ctx context.Context, r *phaseContext) error {
			return syncSimulated(ctx, r.t, r.cl, r.o, agent)
		}},
	}
	waitSimulatedNodes := phase{fail: failLeaveRunning, do: func(ctx context.Context, r *phaseContext) error {
		return waitSimulated(ctx, r.t, r.failed, r.cl, r.o, r.res)
	}}
	done := phase{do: func(ctx context.Context, r *phaseContext) error {
		_, err := finish(r.res, kc)
		return err
	}}
	if !agent && !processPods {
		// T3: the control plane is the whole cluster (with kwok's nodes).
		return append(ps, waitSimulatedNodes, done)
	}
	return append(ps,
		phase{name: "node", detail: "node " + r.nodeName + " Ready", fail: failLeaveRunning, do: func(ctx context.Context, r *phaseContext) error {
			r.res.Node = r.nodeName
			if err := waitFor(ctx, r.failed, func() error { return r.cl.nodeReady(ctx, r.nodeName) }); err != nil {
				return err
			}
			return r.cl.schedulable(ctx, r.nodeName)
		}},
		phase{fail: failLeaveRunning, do: func(ctx context.Context, r *phaseContext) error {
			if err := <-r.imported; err != nil {
				return err
			}
			r.addonsDone = startAddons(ctx, r.t, r.plan, r.o, kc, r.nodeName, r.ctr, r.rendered.Socket)
			return nil
		}},
		phase{name: "pod", detail: "probe pod Running", fail: failLeaveRunning, do: func(ctx context.Context, r *phaseContext) error {
			if err := retryTimeouts(ctx, r.failed, func() error { return r.cl.createProbePod(ctx) }); err != nil {
				return err
			}
			return waitFor(ctx, r.failed, func() error { return r.cl.probePodRunning(ctx) })
		}},
		phase{fail: failLeaveRunning, do: func(ctx context.Context, r *phaseContext) error {
			<-r.addonsDone
			r.cl.deleteProbePod(ctx)
			return waitWorkers(ctx, r.failed, r.workers, r.res)
		}},
		waitSimulatedNodes,
		done,
	)
}

// upstreamPreflight finds the programs and image archives the rung needs
// and takes the data dir's lock (held in r.lock).
func upstreamPreflight(r *phaseContext, agent, processPods bool) error {
	var err error
	r.bins, r.ctr, err = launchhost.FindUpstream(r.o.BinDir)
	if !agent {
		err = launchhost.ControlPlaneOnly(err)
	} else {
		components := launchhost.ControlPlaneComponents(r.bins.ControlPlane)
		r.bins.ControlPlaneRunsNode = launchhost.ControlPlaneRunsNode(components)
		r.bins.ControlPlaneRunsNetworkPolicies = r.bins.ControlPlaneRunsNode && slices.Contains(components, upstream.NetworkPolicyProcessName)
	}
	if err == nil {
		err = portOffsetPreflight(r.o.PortOffset, agent)
	}
	if err == nil {
		r.lock, err = Preflight(r.o.DataDir, shiftPorts(UpstreamPorts, r.o.PortOffset))
	}
	if err == nil && (agent || processPods) {
		r.pauseTar, r.busyboxTar, err = FindImages(r.o.ImagesDir)
	}
	if err == nil && processPods {
		err = processPodsPreflight(r.o)
	}
	if err == nil && r.o.SimulateNodes > 0 {
		_, err = FindKwok(r.o.BinDir)
	}
	if err == nil && agent {
		err = nodesPreflight(r.o)
		r.bins.NetworkPolicyQueue = netpolPreflight(r.plan, r.bins.NetworkPolicies, r.o.Nodes)
	}
	if err == nil {
		err = rootPreflight(r.plan, agent)
	}
	if err == nil && processPods {
		// The node agent preloads the archives of this directory.
		r.o.ImagesDir = filepath.Dir(r.busyboxTar)
	}
	return err
}
