package launchhost

import (
	"errors"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// TestAPIBindAddress: the API server never binds every address unless
// asked (issue 11: it bound 0.0.0.0), and binds an address the pods and
// the workers reach when they run.
func TestAPIBindAddress(t *testing.T) {
	// flags are launch's --bind-address and --nodes.
	type flags struct {
		BindAddress string
		Nodes       int
	}
	full := &adapters.Plan{Engine: "kubernetes", Rung: "T0"}
	t3 := &adapters.Plan{Engine: "kubernetes", Rung: "T3", Settings: []adapters.Setting{
		{Component: adapters.Cluster, Name: "disable-agent", Value: "true"}}}
	tests := []struct {
		name   string
		o      flags
		plan   *adapters.Plan
		nodeIP string
		want   string
		bad    string // substring of the error
	}{
		{"control plane only", flags{}, t3, "192.0.2.2", "127.0.0.1", ""},
		{"control plane only, --nodes ignored", flags{Nodes: 3}, t3, "192.0.2.2", "127.0.0.1", ""},
		{"pods run", flags{}, full, "192.0.2.2", "192.0.2.2", ""},
		{"no address but loopback", flags{}, full, "127.0.0.1", "127.0.0.1", ""},
		{"workers", flags{Nodes: 2}, full, "192.0.2.2", upstream.NodeAddress(0), ""},
		{"asked for", flags{BindAddress: "0.0.0.0"}, full, "192.0.2.2", "0.0.0.0", ""},
		{"asked for with workers", flags{BindAddress: "0.0.0.0", Nodes: 2}, full, "192.0.2.2", "0.0.0.0", ""},
		{"not an address", flags{BindAddress: "localhost"}, full, "192.0.2.2", "", "not an IP address"},
		{"workers cannot reach it", flags{BindAddress: "127.0.0.1", Nodes: 2}, full, "192.0.2.2", "", "the workers reach the API server at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why, err := APIBindAddress(tt.o.BindAddress, tt.o.Nodes, tt.plan, tt.nodeIP)
			if tt.bad != "" {
				var pe *PreflightError
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.bad) {
					t.Fatalf("err %v, want a preflight error with %q", err, tt.bad)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if !strings.Contains(why, "binds "+tt.want) || !strings.Contains(why, "anonymous requests reach /livez, /readyz and /healthz only") {
				t.Errorf("note %q", why)
			}
		})
	}
}
