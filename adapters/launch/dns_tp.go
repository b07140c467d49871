package launch

import (
	"context"

	"github.com/kprobe/kprobe/adapters/addons"
	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// Process pods (TP) share the sandbox's ports: CoreDNS's liveness and
// readiness endpoints move off 8080 and 8181, which applications use.
const processPodsDNSHealthPort, processPodsDNSReadyPort = 18080, 18181

// processPodsDNSPort is where CoreDNS listens at TP: above 1024, which a
// pod in a nested user namespace can bind (addons.Config.DNSPort); the
// node agent's proxy serves kube-dns on 53.
const processPodsDNSPort = 1053

// startProcessPodsDNS deploys the add-ons at TP as process pods: the node
// agent preloaded their images from the images dir; CoreDNS's Service
// kube-dns answers on the loopback cluster DNS address
// (upstream.ProcessPodsClusterDNS) through the node agent's Service
// proxy, port 53 to CoreDNS's processPodsDNSPort; local-path-provisioner and its helper pods
// reach the API server as in-cluster clients. The channel closes when that is over; a
// failure is the failed "addons" phase, not a failed launch.
func startProcessPodsDNS(ctx context.Context, t *tracker, o Options, kubeconfig, nodeName string, done chan struct{}) <-chan struct{} {
	go func() {
		defer close(done)
		end := t.begin("addons", "CoreDNS (cluster DNS "+upstream.ProcessPodsClusterDNS+") and the local-path StorageClass available, as process pods")
		err := addons.Deploy(ctx, addons.Config{
			DataDir: o.DataDir, ClusterDNS: upstream.ProcessPodsClusterDNS, Domain: addons.DefaultClusterDomain,
			NodeName: nodeName, NodeIP: launchhost.NodeIP(),
			HealthPort: processPodsDNSHealthPort, ReadyPort: processPodsDNSReadyPort, DNSPort: processPodsDNSPort,
		}, addons.Options{Kubeconfig: kubeconfig, ResolvConf: "/etc/resolv.conf", Wait: addonsWait})
		if ctx.Err() == nil {
			end(err)
		}
	}()
	return done
}
