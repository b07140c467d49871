package launch

// Simulated nodes (issue 7): where no kubelet can run (T3), `kprobe launch
// --simulate-nodes N` runs kwok (Kubernetes WithOut Kubelet) under the
// supervisor beside the control plane and registers N Node objects that
// kwok keeps Ready. The scheduler binds pods to them and kwok reports the
// pods Running, so manifests and Helm charts can be tried end to end; no
// container runs. The nodes say so in their role, labels and kubelet
// version.

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/supervise"
)

const (
	// SimulatedNodePrefix names the simulated nodes: kprobe-sim-0, -1...
	SimulatedNodePrefix = "kprobe-sim-"
	// SimulatedLabel (value "true") marks a simulated node; it is also
	// the key of the taint they carry at rungs with a real node.
	SimulatedLabel = "kprobe.dev/simulated"
	// SimulatedRole is the role `kubectl get nodes` shows for them.
	SimulatedRole = "node-role.kubernetes.io/simulated"
	// MaxSimulatedNodes bounds --simulate-nodes: each node's simulated
	// pods get addresses from one /24 of kwokCIDR.
	MaxSimulatedNodes = 100

	// kwokAnnotation selects the nodes kwok manages
	// (--manage-nodes-with-annotation-selector).
	kwokAnnotation = "kwok.x-k8s.io/node"
	kwokSelector   = kwokAnnotation + "=fake"
	// kwokCIDR is where the simulated pods' addresses come from: beside the
	// real node's pod range (upstream.DefaultPodCIDR), never routed.
	kwokCIDR = "10.245.0.0/16"
	// KwokStages is kwok's default stages, written next to the kwok binary
	// by `make engine` (hack/kwok/build.sh) from the same module.
	KwokStages = "kwok-stages.yaml"
	// KwokHint says how to get kwok.
	KwokHint = "build it with `make engine` (hack/kwok builds sigs.k8s.io/kwok into bin/engine with its stages)"
)

// Kwok is the kwok controller and the stages it runs with.
type Kwok struct{ Bin, Stages string }

// FindKwok looks for kwok where the engine's binaries are looked for, and
// for its stages next to it.
func FindKwok(binDir string) (Kwok, error) {
	bin, err := launchhost.Find("kwok", launchhost.SearchDirs(binDir))
	if err != nil {
		return Kwok{}, &MissingError{Engine: "kubernetes", Missing: []string{"kwok (for --simulate-nodes)"}, Hint: KwokHint}
	}
	k := Kwok{Bin: bin, Stages: filepath.Join(filepath.Dir(bin), KwokStages)}
	if !fileExists(k.Stages) {
		return k, &MissingError{Engine: "kubernetes", Missing: []string{k.Stages + " (kwok's stages, next to " + bin + ")"}, Hint: KwokHint}
	}
	return k, nil
}

// kwokProcess is kwok as one more supervised process: it manages only the
// nodes annotated kwok.x-k8s.io/node=fake (the real node stays the
// kubelet's), keeps their leases, and plays the stages: nodes become
// Ready, pods bound to them Running, deleted pods go. It serves nothing
// (no --server-address), so it needs no port. HOME is its own dir so that
// a ~/.kwok/kwok.yaml of the user's does not mix in.
func kwokProcess(dataDir string, k Kwok, adminKubeconfig string) supervise.Process {
	return supervise.Process{
		Name: "kwok", Path: k.Bin,
		Args: []string{
			"--kubeconfig=" + adminKubeconfig,
			"--config=" + k.Stages,
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + kwokSelector,
			"--cidr=" + kwokCIDR,
			"--node-lease-duration-seconds=40",
		},
		Env:    []string{"HOME=" + filepath.Join(dataDir, "kwok")},
		NoWait: true, MaxRestarts: 3,
	}
}

// SimulatedNodeNames are the names of n simulated nodes.
func SimulatedNodeNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = SimulatedNodePrefix + strconv.Itoa(i)
	}
	return names
}

// simulatedNode is one Node object for kwok. With a real node beside it
// (taint), it carries the taint kprobe.dev/simulated=true:NoSchedule so
// that only pods that tolerate it land there; at T3 it has none, so
// Deployments are scheduled onto it unchanged.
func simulatedNode(i int, taint bool) *corev1.Node {
	name := SimulatedNodePrefix + strconv.Itoa(i)
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Annotations: map[string]string{
				kwokAnnotation:                 "fake",
				"node.alpha.kubernetes.io/ttl": "0",
				"kprobe.dev/note":              "simulated by kwok: " + SimulatedNote,
			},
			Labels: map[string]string{
				"type": "kwok", SimulatedLabel: "true", SimulatedRole: "",
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": runtime.GOARCH,
				"app.kubernetes.io/managed-by": "kprobe",
			},
		},
		// kwok takes the simulated pods' addresses from the node's range.
		Spec:   corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.245.%d.0/24", i), PodCIDRs: []string{fmt.Sprintf("10.245.%d.0/24", i)}},
		Status: corev1.NodeStatus{Capacity: rl, Allocatable: rl},
	}
	if taint {
		n.Spec.Taints = []corev1.Taint{simulatedTaint}
	}
	return n
}

var simulatedTaint = corev1.Taint{Key: SimulatedLabel, Value: "true", Effect: corev1.TaintEffectNoSchedule}

// ensureSimulatedNodes makes the simulated nodes exactly kprobe-sim-0..n-1
// with the taint wanted: it creates the missing ones, fixes the taint of
// those a previous launch of the data dir left, and deletes those beyond
// n (kwok no longer keeps them Ready, and pods would wait on them).
func (c *client) ensureSimulatedNodes(ctx context.Context, n int, taint bool) error {
	list, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: SimulatedLabel + "=true"})
	if err != nil {
		return err
	}
	have := map[string]*corev1.Node{}
	for i := range list.Items {
		node := &list.Items[i]
		have[node.Name] = node
		if idx, ok := simulatedIndex(node.Name); !ok || idx >= n {
			if err := c.deleteSimulatedNode(ctx, node.Name); err != nil {
				return fmt.Errorf("delete the simulated node %s of an earlier launch: %w", node.Name, err)
			}
		}
	}
	for i := 0; i < n; i++ {
		want := simulatedNode(i, taint)
		old, ok := have[want.Name]
		if !ok {
			if _, err := c.cs.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create the simulated node %s: %w", want.Name, err)
			}
			continue
		}
		if hasTaint(old.Spec.Taints, simulatedTaint) == taint && !old.Spec.Unschedulable {
			continue
		}
		var taints []corev1.Taint
		for _, t := range old.Spec.Taints {
			if t.Key != simulatedTaint.Key {
				taints = append(taints, t)
			}
		}
		old.Spec.Taints = append(taints, want.Spec.Taints...)
		old.Spec.Unschedulable = false
		if _, err := c.cs.CoreV1().Nodes().Update(ctx, old, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update the simulated node %s: %w", old.Name, err)
		}
	}
	return nil
}

// deleteSimulatedNode deletes a node and, at once, the pods bound to it:
// no kubelet will ever confirm they are gone, and the pod garbage
// collector would leave them listed as Running for a while.
func (c *client) deleteSimulatedNode(ctx context.Context, name string) error {
	if err := c.cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	pods, err := c.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + name})
	if err != nil {
		return err
	}
	zero := int64(0)
	for _, p := range pods.Items {
		if err := c.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

func simulatedIndex(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, SimulatedNodePrefix)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && strconv.Itoa(i) == s
}

func hasTaint(ts []corev1.Taint, t corev1.Taint) bool {
	for _, x := range ts {
		if x.Key == t.Key && x.Value == t.Value && x.Effect == t.Effect {
			return true
		}
	}
	return false
}

// simulatedNodesReady says which of the nodes kwok has not made Ready yet.
func (c *client) simulatedNodesReady(ctx context.Context, names []string) error {
	var waiting []string
	for _, n := range names {
		if err := c.nodeReady(ctx, n); err != nil {
			waiting = append(waiting, err.Error())
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("kwok has not made every simulated node Ready: %s", strings.Join(waiting, "; "))
	}
	return nil
}

// syncSimulated registers the simulated nodes right after the API is
// ready (deleting those of an earlier launch that are no longer wanted),
// before the probe pod could be scheduled onto one.
func syncSimulated(ctx context.Context, t *tracker, cl *client, o Options, realNode bool) error {
	if o.SimulateNodes == 0 {
		// Only leftovers of an earlier launch of this data dir to delete.
		return cl.ensureSimulatedNodes(ctx, 0, realNode)
	}
	end := t.begin("simulated-nodes", "register "+SimulatedCount(SimulatedNodeNames(o.SimulateNodes))+" for kwok")
	err := cl.ensureSimulatedNodes(ctx, o.SimulateNodes, realNode)
	end(err)
	return err
}

// waitSimulated waits until kwok has made every simulated node Ready and
// records them in the result.
func waitSimulated(ctx context.Context, t *tracker, failed *failure, cl *client, o Options, res *Result) error {
	if o.SimulateNodes == 0 {
		return nil
	}
	names := SimulatedNodeNames(o.SimulateNodes)
	end := t.begin("simulated-ready", "kwok makes "+SimulatedCount(names)+" Ready: "+SimulatedNote)
	err := waitFor(ctx, failed, func() error { return cl.simulatedNodesReady(ctx, names) })
	end(err)
	if err == nil {
		res.SimulatedNodes = names
	}
	return err
}
