// Package netpol enforces NetworkPolicy on a kprobe node with the SIG's
// own enforcer (sigs.k8s.io/kube-network-policies): its networkpolicy
// controller diverts the first packet of each connection to pods through
// an nftables table ("kube-network-policies", family inet) into nfqueue
// and accepts or drops it by the policies. Where nf_tables has no queue
// statement (no nft_queue), --queue-path=iptables diverts them with an
// iptables NFQUEUE rule instead (iptables.go) and the same controller
// judges them.
//
// Main is the enforcer's command line. It runs as the program
// kube-network-policies (cmd/kube-network-policies) and as a section of
// kube-control-plane (hack/engine), where it shares the process's
// Kubernetes libraries and Go runtime with the node's other components
// instead of mapping its own copy of them (research/memory-floor.md).
//
// Upstream's main reads the in-cluster config and serves metrics on every
// address; kprobe runs the enforcer as a host process of the node, so Main
// takes a kubeconfig instead and opens no listener at all (no cluster
// port answers a local user without credentials: docs/security.md).
package netpol

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

// Main parses args (without the program's name) into fs and runs the
// enforcer until ctx ends (it then removes its table), or probes or
// cleans up and returns. It returns the exit code: 0, 1 on a failure, 3
// on a usage error. The caller cancels ctx on SIGTERM: the supervisor
// stops the enforcer with it, and upstream's main only caught SIGINT and
// left its nftables table behind.
func Main(ctx context.Context, fs *flag.FlagSet, args []string) int {
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig that may list and watch NetworkPolicies, Namespaces and Pods (required)")
	nodeName := fs.String("hostname-override", "", "name of the Node this enforcer runs on (default: the host name)")
	queueID := fs.Int("nfqueue-id", 100, "number of the nfqueue the first packets are diverted to")
	failOpen := fs.Bool("fail-open", false, "accept what the enforcer cannot judge (a full queue, an unparsable packet; on the nft path also packets queued while it is not running: the iptables path always lets those pass)")
	table := fs.String("nftables-table", "kube-network-policies", "name of the nf_tables table (family inet) the enforcer fills; one per cluster on a host")
	cleanup := fs.Bool("cleanup", false, "delete the nftables table a killed enforcer left behind, then exit")
	probe := fs.Bool("probe", false, "check in new network namespaces which queue path this kernel takes (nft: the nftables queue rule, which needs nft_queue; iptables: an iptables NFQUEUE rule), print it and exit; exit 1 when neither works")
	queuePath := fs.String("queue-path", "nft", "how first packets reach the queue: nft (upstream's nftables table) or iptables (an NFQUEUE rule in the mangle chain --iptables-chain, for kernels without nft_queue)")
	podCIDR := fs.String("pod-cidr", "", "pods' address range whose connections the iptables path queues (required with --queue-path=iptables)")
	chain := fs.String("iptables-chain", "KPROBE-NETPOL", "mangle chain of the iptables path; --cleanup deletes it too")
	if err := fs.Parse(args); err != nil {
		return 3
	}
	if *probe {
		path, err := probePath()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(path)
		return 0
	}
	if err := validChain(*chain); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	if *cleanup {
		rc := 0
		if err := deleteTable(*table); err != nil {
			klog.ErrorS(err, "deleting table", "family", "inet", "name", *table)
			rc = 1
		}
		if err := removeChain(context.Background(), *chain); err != nil {
			klog.ErrorS(err, "deleting iptables chain", "table", "mangle", "chain", *chain)
			rc = 1
		}
		return rc
	}
	var cidr netip.Prefix
	switch *queuePath {
	case "nft":
	case "iptables":
		var err error
		if cidr, err = netip.ParsePrefix(*podCIDR); err != nil || !cidr.Addr().Is4() {
			fmt.Fprintf(os.Stderr, "--pod-cidr %q: an IPv4 prefix is required with --queue-path=iptables\n", *podCIDR)
			return 3
		}
	default:
		fmt.Fprintf(os.Stderr, "--queue-path %q: nft or iptables\n", *queuePath)
		return 3
	}
	if *kubeconfig == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: kube-network-policies --kubeconfig FILE [--hostname-override NODE] [--queue-path=iptables --pod-cidr CIDR]")
		return 3
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.ErrorS(err, "reading kubeconfig", "path", *kubeconfig)
		return 1
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		klog.ErrorS(err, "creating client")
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if err := noNRIRuntime(); err != nil {
		klog.ErrorS(err, "keeping NRI off")
		return 1
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	controller, err := networkpolicy.NewController(client,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		nil, nil, nil, nil, // no AdminNetworkPolicy (alpha, and its CRDs are not installed)
		networkpolicy.Config{
			QueueID:             *queueID,
			NodeName:            *nodeName,
			FailOpen:            *failOpen,
			NetfilterBug1766Fix: true,
			// v0.8.0 looks up an address its pod index lacks (the node,
			// the API server, the internet) in its NRI plugin, which it
			// leaves nil when NRI is disabled: the first such packet
			// panics. So the plugin is created, but never reaches a
			// runtime: see noNRIRuntime.
			NRIdisabled: false,
			NFTableName: *table,
		})
	if err != nil {
		klog.ErrorS(err, "creating the network policy controller")
		return 1
	}
	var runErr error
	finished := make(chan struct{})
	go func() { runErr = controller.Run(ctx); close(finished) }()
	factory.Start(ctx.Done())
	if *queuePath == "iptables" {
		// The controller's own table is refused on such a kernel (its
		// sync logs the error and retries); this chain feeds its queue.
		defer func() {
			if err := removeChain(context.Background(), *chain); err != nil {
				klog.ErrorS(err, "deleting iptables chain", "table", "mangle", "chain", *chain)
			}
		}()
		if waitQueueBound(ctx, finished, *queueID) {
			if err := installChain(ctx, *chain, cidr, *queueID); err != nil {
				klog.ErrorS(err, "installing the iptables queue chain", "chain", *chain)
				cancel()
				<-finished
				return 1
			}
			klog.InfoS("iptables queue path installed", "table", "mangle", "chain", *chain, "queue", *queueID, "podCIDR", cidr)
		}
	}
	select {
	case <-ctx.Done():
		// Run removes its nftables table when ctx ends; give it the time.
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
		}
		return 0
	case <-finished:
		if runErr != nil {
			klog.ErrorS(runErr, "network policy controller")
			return 1
		}
		return 0
	}
}

// deleteTable removes the controller's table if it is there: a SIGKILLed
// enforcer cannot, and kprobe stop must leave no table behind.
func deleteTable(name string) error {
	nft, err := nftables.New()
	if err != nil {
		return err
	}
	tables, err := nft.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if t.Name == name {
			nft.DelTable(t)
			return nft.Flush()
		}
	}
	return nil
}

// probePath says which queue path this kernel takes: upstream's nftables
// table where nf_tables can queue, else the iptables NFQUEUE chain.
func probePath() (string, error) {
	nftErr := make(chan error, 1)
	// probeQueue's thread stays in its namespace: a goroutine of its own.
	go func() { nftErr <- probeQueue() }()
	err := <-nftErr
	if err == nil {
		return "nft", nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ierr := probeIptablesQueue(ctx); ierr != nil {
		return "", fmt.Errorf("nftables queue rule refused: %v; iptables NFQUEUE rule refused: %v", err, ierr)
	}
	return "iptables", nil
}

// probeQueue adds, in a network namespace of its own, a table with a
// postrouting chain and a queue rule, as the controller does: a kernel
// without nft_queue refuses the rule (ENOENT), and the enforcer would
// then never install its table. The namespace goes with the thread.
func probeQueue() error {
	runtime.LockOSThread() // never unlocked: the thread exits with the namespace
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	nft, err := nftables.New()
	if err != nil {
		return err
	}
	t := nft.AddTable(&nftables.Table{Name: "kprobe-probe", Family: nftables.TableFamilyINet})
	c := nft.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityFilter})
	nft.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: []expr.Any{
		&expr.Queue{Num: 100, Flag: expr.QueueFlagBypass},
	}})
	return nft.Flush()
}

// noNRIRuntime keeps upstream's NRI plugin away from any container
// runtime (the host's containerd may serve NRI at its default socket): the
// plugin stub takes its connection from NRI_PLUGIN_SOCKET when set, and
// /dev/null is no socket, so its Run fails at once and the plugin stays an
// empty address map (every address not in the pod index is no pod).
func noNRIRuntime() error {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	// Held in a package variable for the process's life: the stub reads
	// the variable only when upstream's Run starts it, and an unreachable
	// *os.File is closed by its finalizer, which would free the number for
	// another connection.
	nriNoSocket = f
	return os.Setenv("NRI_PLUGIN_SOCKET", strconv.Itoa(int(f.Fd())))
}

// nriNoSocket is the file whose descriptor NRI_PLUGIN_SOCKET names.
var nriNoSocket *os.File
