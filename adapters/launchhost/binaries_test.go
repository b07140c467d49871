package launchhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
