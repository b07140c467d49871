package podnode

import (
	"testing"
	"time"
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
