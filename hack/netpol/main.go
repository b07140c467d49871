// Command kube-network-policies enforces NetworkPolicy on a kprobe node
// with the SIG's own enforcer (sigs.k8s.io/kube-network-policies): its
// networkpolicy controller diverts the first packet of each connection to
// pods through an nftables table ("kube-network-policies", family inet)
// into nfqueue and accepts or drops it by the policies.
//
// Upstream's main reads the in-cluster config and serves metrics on every
// address; kprobe runs the enforcer as a host process of the node, so this
// main takes a kubeconfig instead and opens no listener at all (no cluster
// port answers a local user without credentials: docs/security.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"runtime"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

func main() {
	os.Exit(run())
}

func run() int {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig that may list and watch NetworkPolicies, Namespaces and Pods (required)")
	nodeName := flag.String("hostname-override", "", "name of the Node this enforcer runs on (default: the host name)")
	queueID := flag.Int("nfqueue-id", 100, "number of the nfqueue the first packets are diverted to")
	failOpen := flag.Bool("fail-open", false, "accept packets while the enforcer is not running")
	table := flag.String("nftables-table", "kube-network-policies", "name of the nf_tables table (family inet) the enforcer fills; one per cluster on a host")
	cleanup := flag.Bool("cleanup", false, "delete the nftables table a killed enforcer left behind, then exit")
	probe := flag.Bool("probe", false, "check in a new network namespace that this kernel takes the nftables rules the enforcer writes (a queue rule needs nft_queue), then exit")
	klog.InitFlags(flag.CommandLine)
	flag.Parse()
	if *probe {
		if err := probeQueue(); err != nil {
			fmt.Fprintf(os.Stderr, "nftables queue rule refused: %v\n", err)
			return 1
		}
		return 0
	}
	if *cleanup {
		if err := deleteTable(*table); err != nil {
			klog.ErrorS(err, "deleting table", "family", "inet", "name", *table)
			return 1
		}
		return 0
	}
	if *kubeconfig == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: kube-network-policies --kubeconfig FILE [--hostname-override NODE]")
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
	// The supervisor stops components with SIGTERM; upstream's main only
	// catches SIGINT and would leave its nftables table behind.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
	done := make(chan error, 1)
	go func() { done <- controller.Run(ctx) }()
	factory.Start(ctx.Done())
	select {
	case <-ctx.Done():
		// Run removes its nftables table when ctx ends; give it the time.
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return 0
	case err := <-done:
		if err != nil {
			klog.ErrorS(err, "network policy controller")
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
