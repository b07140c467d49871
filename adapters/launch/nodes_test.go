package launch

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/supervise"
)

func TestWithWorkersOrder(t *testing.T) {
	procs := func(names ...string) []supervise.Process {
		var out []supervise.Process
		for _, n := range names {
			out = append(out, supervise.Process{Name: n})
		}
		return out
	}
	got := withWorkers(procs("containerd", "etcd", "kube-apiserver", "kubelet", "kube-proxy"),
		procs("n1.netns", "n1.containerd", "n2.netns", "n2.containerd"), procs("n1.kubelet", "n2.kubelet"))
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	want := []string{"containerd", "n1.netns", "n1.containerd", "n2.netns", "n2.containerd",
		"etcd", "kube-apiserver", "kubelet", "kube-proxy", "n1.kubelet", "n2.kubelet"}
	if !slices.Equal(names, want) {
		t.Errorf("order %v\nwant  %v", names, want)
	}
}

func TestWorkersWanted(t *testing.T) {
	host := &adapters.Plan{Rung: "T0"}
	if n := workersWanted(host, Options{Nodes: 3}); n != 2 {
		t.Errorf("--nodes 3: %d workers", n)
	}
	for _, nodes := range []int{0, 1} {
		if n := workersWanted(host, Options{Nodes: nodes}); n != 0 {
			t.Errorf("--nodes %d: %d workers", nodes, n)
		}
	}
	if nodesSANs(Options{Nodes: 1}) != nil {
		t.Error("a single node changes the API server's certificate")
	}
	// T3 runs no kubelet: no worker, and the plan says why.
	cp := &adapters.Plan{Rung: "T3", Settings: []adapters.Setting{{Component: adapters.Cluster, Name: "disable-agent", Value: "true"}}}
	if n := workersWanted(cp, Options{Nodes: 2}); n != 0 || len(cp.Notes) != 1 || !strings.Contains(cp.Notes[0], "no worker") {
		t.Errorf("T3: %d workers, notes %v", n, cp.Notes)
	}
}

func TestNodesPreflightBounds(t *testing.T) {
	var pe *PreflightError
	if err := nodesPreflight(Options{Nodes: MaxNodes + 1}); !errors.As(err, &pe) || !strings.Contains(err.Error(), "at most") {
		t.Errorf("--nodes %d: %v", MaxNodes+1, err)
	}
	if err := nodesPreflight(Options{Nodes: 1}); err != nil {
		t.Errorf("a single node: %v", err)
	}
}
