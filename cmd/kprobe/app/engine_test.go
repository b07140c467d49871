package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

// binDir makes a --bin-dir holding executables of the given names (the
// lookup checks that an executable file is there, it runs none) and
// empties PATH, so that only that dir counts.
func binDir(t *testing.T, names ...string) string {
	t.Helper()
	d := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(d, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", t.TempDir())
	return d
}

var controlPlane = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"}

// TestChooseEngine: a rung without a kubelet needs only the control
// plane; a worker rung needs the whole kubernetes engine or k3s.
func TestChooseEngine(t *testing.T) {
	cp := binDir(t, controlPlane...)
	for _, r := range []profiles.Rung{profiles.T3, profiles.TP} {
		for _, want := range []string{"auto", adapters.EngineKubernetes} {
			if e, err := chooseEngine(want, cp, r); err != nil || e != adapters.EngineKubernetes {
				t.Errorf("%s, --engine %s, control plane only: %q %v", r, want, e, err)
			}
		}
	}
	_, err := chooseEngine("auto", cp, profiles.T0)
	if err == nil || !strings.Contains(err.Error(), "containerd") {
		t.Errorf("T0 with the control plane only: %v, want containerd named", err)
	}
	if _, err := chooseEngine(adapters.EngineK3s, cp, profiles.T3); err == nil {
		t.Error("--engine k3s without k3s accepted")
	}

	k3s := binDir(t, append([]string{"k3s"}, controlPlane...)...)
	if e, err := chooseEngine("auto", k3s, profiles.T0); err != nil || e != adapters.EngineK3s {
		t.Errorf("auto with k3s at T0: %q %v", e, err)
	}
	// Process pods run beside the kubernetes engine only.
	if e, err := chooseEngine("auto", k3s, profiles.TP); err != nil || e != adapters.EngineKubernetes {
		t.Errorf("auto with k3s at TP: %q %v", e, err)
	}
}

// TestPlanEngineNamesWhatIsMissing: with every program but etcd, plan
// says etcd is missing instead of "no engine is installed".
func TestPlanEngineNamesWhatIsMissing(t *testing.T) {
	noEtcd := binDir(t, controlPlane[:3]...)
	t.Setenv("PATH", noEtcd)
	var w bytes.Buffer
	if e := planEngine(&w, profiles.T3); e != adapters.EngineK3s {
		t.Errorf("engine %q", e)
	}
	if msg := w.String(); !strings.Contains(msg, "no engine installed here can run T3") || !strings.Contains(msg, "the kubernetes engine needs etcd, not found") {
		t.Errorf("the message does not name etcd alone: %s", msg)
	}
}
