package launch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// ProbePod is the pod a launch runs to prove containers start (and then
// deletes).
const (
	ProbePod       = "kprobe-probe"
	ProbeNamespace = "default"
	BusyboxImage   = "docker.io/library/busybox:1.35"
)

type client struct{ cs kubernetes.Interface }

func newClient(kubeconfig string) (*client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = 5 * time.Second
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &client{cs: cs}, nil
}

// readyz asks the API server, verifying its certificate against the
// cluster CA, whether it is ready.
func (c *client) readyz(ctx context.Context) error {
	body, err := c.cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %v", err)
	}
	if string(body) != "ok" {
		return fmt.Errorf("/readyz: %s", body)
	}
	return nil
}

// ensureDefaultServiceAccount creates default/default at once instead of
// waiting about 5 s for the controller-manager to do it: the
// ServiceAccount admission plugin refuses pods until it exists.
func (c *client) ensureDefaultServiceAccount(ctx context.Context) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ProbeNamespace}}
	_, err := c.cs.CoreV1().ServiceAccounts(ProbeNamespace).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the default ServiceAccount: %w", err)
	}
	return nil
}

func (c *client) nodeReady(ctx context.Context, name string) error {
	n, err := c.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("node %s: %v", name, err)
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			if cond.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s not Ready: %s", name, cond.Message)
		}
	}
	return fmt.Errorf("node %s has no Ready condition yet", name)
}

// retryTimeouts runs call until it returns an error that is not a
// timeout, as waitFor does: a request that got no answer within the
// client's 5 s (an API server on a slow machine: a VM without KVM took
// longer for the probe pod's POST) is tried again, a refusal ends it.
func retryTimeouts(ctx context.Context, failed *failure, call func() error) error {
	var final error
	err := waitFor(ctx, failed, func() error {
		err := call()
		if err != nil && isTimeout(err) {
			return err
		}
		final = err
		return nil
	})
	if err != nil {
		return err
	}
	return final
}

// isTimeout reports whether err is a request that got no answer in time
// (client side) or that the API server itself timed out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)
}

func (c *client) createProbePod(ctx context.Context) error {
	zero := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: ProbePod, Namespace: ProbeNamespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "kprobe"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			// No service account token: its projected volume waits for the
			// kube-root-ca.crt ConfigMap, which the controller-manager
			// publishes seconds later; the probe only proves a container
			// runs.
			AutomountServiceAccountToken: new(bool),
			Containers: []corev1.Container{{
				Name: "probe", Image: BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", "echo kprobe-probe-ok; exec sleep 3600"},
			}},
		},
	}
	err := c.cs.CoreV1().Pods(ProbeNamespace).Delete(ctx, ProbePod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	for {
		_, err = c.cs.CoreV1().Pods(ProbeNamespace).Create(ctx, pod, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// deleteProbePod deletes the probe pod once it has shown that a container
// runs: left running, it was a sleeping busybox, its pause container and a
// containerd shim (about 15 MiB resident, research/memory-floor.md) on
// every launched node, for nothing the user asked for. The grace period
// is 1 s, as drainNode's: the kubelet tears the pod down. A failure is no
// failure of the launch (the pod only stays).
func (c *client) deleteProbePod(ctx context.Context) {
	grace := int64(1)
	_ = c.cs.CoreV1().Pods(ProbeNamespace).Delete(ctx, ProbePod, metav1.DeleteOptions{GracePeriodSeconds: &grace})
}

func (c *client) probePodRunning(ctx context.Context) error {
	p, err := c.cs.CoreV1().Pods(ProbeNamespace).Get(ctx, ProbePod, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if p.Status.Phase == corev1.PodRunning {
		return nil
	}
	why := string(p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			why += ": " + w.Reason + " " + w.Message
		}
	}
	ev, _ := c.cs.CoreV1().Events(ProbeNamespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + ProbePod})
	if ev != nil && len(ev.Items) > 0 {
		last := ev.Items[len(ev.Items)-1]
		why += " (" + last.Reason + ": " + last.Message + ")"
	}
	return fmt.Errorf("probe pod %s", why)
}

// drainNode cordons the node, so that controllers recreate deleted pods
// as Pending, deletes every pod bound to it and waits (bounded) until the
// kubelet has torn them down, so CNI DEL runs for each. The grace period
// is 1 s, not 0: a zero grace period removes the objects at once and the
// kubelet never tears the pods down. Launch makes it schedulable again.
func (c *client) drainNode(ctx context.Context, node string, wait time.Duration) error {
	n, err := c.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if !n.Spec.Unschedulable {
		n.Spec.Unschedulable = true
		if _, err := c.cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	one := int64(1)
	sel := metav1.ListOptions{FieldSelector: "spec.nodeName=" + node}
	deadline := time.Now().Add(wait)
	for {
		pods, err := c.cs.CoreV1().Pods("").List(ctx, sel)
		if err != nil {
			return err
		}
		if len(pods.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d pods still on %s after %s", len(pods.Items), node, wait)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				_ = c.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &one})
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// schedulable makes the Ready node take pods at once: it undoes a
// previous stop's drainNode (the node cordoned) and drops the
// node.kubernetes.io/not-ready:NoSchedule taint that the API server's
// TaintNodesByCondition admission put on the node when the kubelet
// registered it, before it was Ready. The controller-manager's node
// lifecycle controller would drop that taint too, but only once it has
// started (after the API server's /readyz) and made its first pass: on
// the host the probe pod waited 1.3-1.9 s for it (research/api-start.md).
// The taint is dropped only while the node's Ready condition is True,
// which is when that controller drops it; should the node fall NotReady,
// the controller puts it back.
func (c *client) schedulable(ctx context.Context, node string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		taints := slices.DeleteFunc(slices.Clone(n.Spec.Taints), func(t corev1.Taint) bool {
			return t.Key == corev1.TaintNodeNotReady && t.Effect == corev1.TaintEffectNoSchedule && isReady(n)
		})
		if !n.Spec.Unschedulable && len(taints) == len(n.Spec.Taints) {
			return nil
		}
		n.Spec.Unschedulable = false
		n.Spec.Taints = taints
		_, err = c.cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// isReady reports whether the node's Ready condition is True.
func isReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// anyNodeReady waits for k3s's node, whose name is the host name.
func (c *client) anyNodeReady(ctx context.Context) error {
	nodes, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		if c.nodeReady(ctx, n.Name) == nil {
			return nil
		}
	}
	return fmt.Errorf("no node Ready yet (%d registered)", len(nodes.Items))
}
