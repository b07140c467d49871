package launchhost

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters/upstream"
)

// EngineComponents reads the versions of the engine's Go programs from
// their build info; a program built outside a module records none.
func TestEngineComponents(t *testing.T) {
	engine, _ := filepath.Abs("../../bin/engine")
	if _, err := os.Stat(filepath.Join(engine, "kube-apiserver")); err != nil {
		t.Skip("no bin/engine (make engine)")
	}
	found := false
	for _, c := range EngineComponents(engine) {
		if c.Name == "kube-apiserver" {
			found = true
			if c.Path != filepath.Join(engine, "kube-apiserver") || !strings.HasPrefix(c.Version, "v1.") {
				t.Errorf("kube-apiserver: %+v", c)
			}
		}
	}
	if !found {
		t.Error("kube-apiserver not listed")
	}
}

// TestControlPlaneRunsNode asks `make engine`'s kube-control-plane, which
// runs the kubelet, kube-proxy and the NetworkPolicy enforcer too; a
// program that refuses --components (a kube-control-plane from before
// them: usage, exit 2) and none at all do not.
func TestControlPlaneRunsNode(t *testing.T) {
	if ControlPlaneRunsNode(ControlPlaneComponents("")) || ControlPlaneRunsNode(ControlPlaneComponents("/bin/false")) {
		t.Error("no program, or one that fails, runs the node")
	}
	p, _ := filepath.Abs("../../bin/engine/kube-control-plane")
	if _, err := os.Stat(p); err != nil {
		t.Skip("no bin/engine/kube-control-plane (make engine)")
	}
	got := ControlPlaneComponents(p)
	if !ControlPlaneRunsNode(got) {
		t.Errorf("%s --components does not list the kubelet and kube-proxy: %q", p, got)
	}
	if !slices.Contains(got, upstream.NetworkPolicyProcessName) {
		t.Errorf("%s --components does not list %s: %q", p, upstream.NetworkPolicyProcessName, got)
	}
}
