package launch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The finding (issue 18): in the zoo's cgroup v2 VM the API server took
// longer than the client's 5 s to answer the probe pod's POST, and the
// launch failed there although the API was ready. A request that times
// out is tried again; one the server refuses ends the wait at once.
func TestRetryTimeoutsTriesASlowRequestAgain(t *testing.T) {
	slow := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow > 0 {
			slow--
			time.Sleep(300 * time.Millisecond)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	c := &http.Client{Timeout: 100 * time.Millisecond}
	calls := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := retryTimeouts(ctx, nil, func() error {
		calls++
		resp, err := c.Post(srv.URL, "application/json", nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want nil after 3 (two timeouts)", err, calls)
	}

	refused := errors.New(`pods "kprobe-probe" is forbidden`)
	calls = 0
	if err := retryTimeouts(ctx, nil, func() error { calls++; return refused }); !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("err %v after %d calls, want the refusal after 1", err, calls)
	}
}

// A node the kubelet registered before it was Ready carries the
// not-ready NoSchedule taint (TaintNodesByCondition); once Ready, launch
// drops it and a stop's cordon, and leaves every other taint. A node not
// Ready keeps the taint.
func TestSchedulableDropsTheNotReadyTaintOfAReadyNode(t *testing.T) {
	other := corev1.Taint{Key: "example.com/dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}
	node := func(name string, ready corev1.ConditionStatus) *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{notReady, other}},
			Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}},
		}
	}
	c := &client{cs: fake.NewClientset(node("ready", corev1.ConditionTrue), node("booting", corev1.ConditionFalse))}
	ctx := context.Background()
	for name, want := range map[string][]corev1.Taint{"ready": {other}, "booting": {notReady, other}} {
		if err := c.schedulable(ctx, name); err != nil {
			t.Fatal(err)
		}
		n, err := c.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n.Spec.Unschedulable || !slices.Equal(n.Spec.Taints, want) {
			t.Errorf("%s: unschedulable %v, taints %v; want schedulable with %v", name, n.Spec.Unschedulable, n.Spec.Taints, want)
		}
	}
	if err := c.schedulable(ctx, "absent"); err == nil {
		t.Error("a node that does not exist: no error")
	}
}
