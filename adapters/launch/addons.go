package launch

import (
	"context"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/addons"
	"github.com/kprobe/kprobe/adapters/images"
	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// addonsWait bounds how long a launch waits for the add-ons to be
// available.
const addonsWait = 60 * time.Second

// addonsOff says why the add-ons are not deployed, or "".
func addonsOff(plan *adapters.Plan, o Options) string {
	if plan.Has("disable-kube-proxy") {
		// Pods would reach neither the DNS Service address nor, from the
		// add-ons, the API's Service address.
		return "the plan runs no kube-proxy, so Service addresses do not route"
	}
	if _, err := addons.Archives(o.ImagesDir); err != nil {
		return err.Error()
	}
	return ""
}

// startAddons deploys CoreDNS and local-path-provisioner (adapters/addons)
// beside the probe pod, once the node is Ready and the pause and busybox
// images are in: it imports the add-ons' images (35 MB that would slow
// the control plane's start if imported with those), applies the
// manifests and waits, bounded, until both are available. The channel
// closes when that is over. A failure is the failed "addons" phase, not a
// failed launch: the cluster runs without them.
func startAddons(ctx context.Context, t *tracker, plan *adapters.Plan, o Options, kubeconfig, nodeName, ctr, socket string) <-chan struct{} {
	done := make(chan struct{})
	if o.NoAddons {
		close(done)
		return done
	}
	if plan.ProcessPods() {
		return startProcessPodsDNS(ctx, t, o, kubeconfig, nodeName, done)
	}
	if why := addonsOff(plan, o); why != "" {
		t.begin("addons", "skipped: "+why)(nil)
		close(done)
		return done
	}
	archives, _ := addons.Archives(o.ImagesDir)
	go func() {
		defer close(done)
		end := t.begin("addon-images", "import CoreDNS and local-path-provisioner into containerd")
		var err error
		for _, a := range archives {
			if err == nil {
				err = images.Import(ctx, ctr, socket, images.CRINamespace, a)
			}
		}
		if ctx.Err() != nil {
			return
		}
		end(err)
		if err == nil {
			end = t.begin("addons", "CoreDNS (cluster DNS "+upstream.DefaultClusterDNS+") and the local-path StorageClass available")
			// The kubelet's resolvConf (upstream.Config's default): CoreDNS
			// runs with dnsPolicy Default, so it sees the same resolvers.
			err = addons.Deploy(ctx, addons.Config{
				DataDir: o.DataDir, ClusterDNS: upstream.DefaultClusterDNS, Domain: addons.DefaultClusterDomain,
				NodeName: nodeName, NodeIP: launchhost.NodeIP(),
			}, addons.Options{Kubeconfig: kubeconfig, ResolvConf: "/etc/resolv.conf", Wait: addonsWait})
			if ctx.Err() == nil {
				end(err)
			}
		}
	}()
	return done
}
