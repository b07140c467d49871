package podnode

import (
	"slices"
	"testing"
)

func TestInClusterEnv(t *testing.T) {
	got := inClusterEnv("https://127.0.0.1:6443")
	for _, want := range []string{"KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBERNETES_SERVICE_PORT=6443", "KUBERNETES_PORT=tcp://127.0.0.1:6443"} {
		if !slices.Contains(got, want) {
			t.Errorf("inClusterEnv: %q missing in %q", want, got)
		}
	}
	if got := inClusterEnv("https://[fd00::1]"); !slices.Contains(got, "KUBERNETES_SERVICE_HOST=fd00::1") || !slices.Contains(got, "KUBERNETES_PORT=tcp://[fd00::1]:443") {
		t.Errorf("IPv6 without a port: %q", got)
	}
	if got := inClusterEnv(""); got != nil {
		t.Errorf("no server: %q", got)
	}
}
