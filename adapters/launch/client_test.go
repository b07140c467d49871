package launch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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
