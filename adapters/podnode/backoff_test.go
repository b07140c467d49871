package podnode

import (
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestBackoffFollowsTheKubelet checks the restart delays a crashing
// container gets: at once, then 10 s doubling to 5 minutes, and a reset
// after 10 minutes of running.
func TestBackoffFollowsTheKubelet(t *testing.T) {
	var b backoff
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i, w := range want {
		if got := b.delay(time.Second); got != w {
			t.Fatalf("restart %d: delay %s, want %s", i, got, w)
		}
	}
	if got := b.delay(10 * time.Minute); got != 0 {
		t.Errorf("after 10 minutes of running: delay %s, want 0 (back-off forgotten)", got)
	}
	if got := b.delay(time.Second); got != 10*time.Second {
		t.Errorf("after the reset: delay %s, want 10s", got)
	}
}

// TestMountRetryStaysShortWhileRefused checks the volume retry: the Node
// authorizer's Forbidden (its graph lags a new pod) and a claim not found
// yet are retried within 5 s, other errors back off to a minute.
func TestMountRetryStaysShortWhileRefused(t *testing.T) {
	forbidden := fmt.Errorf("volume %q: %w", "data", apierrors.NewForbidden(schema.GroupResource{Resource: "persistentvolumeclaims"}, "data", errors.New("node: no relationship found between node 'kprobe-node' and this object")))
	other := errors.New("persistent volume \"pv\" is neither hostPath nor local")
	for _, c := range []struct {
		err  error
		want time.Duration
	}{{forbidden, 5 * time.Second}, {other, time.Minute}} {
		d := time.Second
		for range 10 {
			d = mountRetryDelay(d, c.err)
		}
		if d != c.want {
			t.Errorf("%v: delay after 10 tries %s, want %s", c.err, d, c.want)
		}
	}
}
