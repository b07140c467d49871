package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestFindKwok: kwok alone is not enough, its stages must sit next to it.
func TestFindKwok(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kwok"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := FindKwok(dir)
	var me *MissingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), KwokStages) || !strings.Contains(err.Error(), "make engine") {
		t.Fatalf("kwok without its stages: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, KwokStages), []byte("kind: Stage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := FindKwok(dir)
	if err != nil || k.Bin != filepath.Join(dir, "kwok") || k.Stages != filepath.Join(dir, KwokStages) {
		t.Fatalf("FindKwok = %+v, %v", k, err)
	}
	p := kwokProcess("/data", k, "/data/kubeconfigs/admin.conf")
	args := strings.Join(p.Args, " ")
	for _, want := range []string{"--kubeconfig=/data/kubeconfigs/admin.conf", "--config=" + k.Stages,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake"} {
		if !strings.Contains(args, want) {
			t.Errorf("kwok args %q lack %s", args, want)
		}
	}
}

// TestSimulatedNode: every node is kwok's (annotation) and says it is
// simulated; only beside a real node does it carry the taint.
func TestSimulatedNode(t *testing.T) {
	n := simulatedNode(3, false)
	if n.Name != "kprobe-sim-3" || n.Annotations[kwokAnnotation] != "fake" || n.Labels[SimulatedLabel] != "true" ||
		n.Labels["type"] != "kwok" || len(n.Spec.Taints) != 0 || n.Spec.PodCIDR != "10.245.3.0/24" {
		t.Fatalf("T3 node %+v", n)
	}
	if _, ok := n.Labels[SimulatedRole]; !ok {
		t.Error("no simulated role: kubectl get nodes would not say it")
	}
	if n := simulatedNode(0, true); !hasTaint(n.Spec.Taints, simulatedTaint) {
		t.Fatalf("beside a real node: taints %v", n.Spec.Taints)
	}
	if got := SimulatedCount(SimulatedNodeNames(1)); got != "1 simulated node (kprobe-sim-0)" {
		t.Errorf("SimulatedCount(1) = %q", got)
	}
	if got := SimulatedCount(SimulatedNodeNames(3)); got != "3 simulated nodes (kprobe-sim-0..kprobe-sim-2)" {
		t.Errorf("SimulatedCount(3) = %q", got)
	}
	for name, want := range map[string]int{"kprobe-sim-0": 0, "kprobe-sim-12": 12} {
		if i, ok := simulatedIndex(name); !ok || i != want {
			t.Errorf("simulatedIndex(%s) = %d, %v", name, i, ok)
		}
	}
	for _, name := range []string{"kprobe-node", "kprobe-sim-", "kprobe-sim-01", "kprobe-sim--1"} {
		if _, ok := simulatedIndex(name); ok {
			t.Errorf("simulatedIndex(%s) accepted", name)
		}
	}
}

// TestKwokStages reads the stages `make engine` wrote next to kwok: the
// node and pod stages kwok needs to make nodes Ready and pods Running.
func TestKwokStages(t *testing.T) {
	data, err := os.ReadFile("../../bin/engine/" + KwokStages)
	if err != nil {
		t.Skip("kwok is not built: `make engine`")
	}
	var names []string
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var s struct {
			APIVersion, Kind string
			Metadata         struct{ Name string }
			Spec             struct{ ResourceRef struct{ Kind string } }
		}
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatal(err)
		}
		if s.Kind == "" {
			continue // the header comment
		}
		if s.APIVersion != "kwok.x-k8s.io/v1alpha1" || s.Kind != "Stage" {
			t.Errorf("%s %s", s.APIVersion, s.Kind)
		}
		names = append(names, s.Spec.ResourceRef.Kind+"/"+s.Metadata.Name)
	}
	got := strings.Join(names, " ")
	if got != "Node/node-initialize Node/node-heartbeat-with-lease Pod/pod-ready Pod/pod-complete Pod/pod-delete" {
		t.Fatalf("stages: %s", got)
	}
}
