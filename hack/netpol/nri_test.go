package main

import (
	"context"
	"testing"
	"time"

	nriapi "github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
)

// podWatcher handles what kube-network-policies' plugin handles.
type podWatcher struct{}

func (podWatcher) Synchronize(context.Context, []*nriapi.PodSandbox, []*nriapi.Container) ([]*nriapi.ContainerUpdate, error) {
	return nil, nil
}

func (podWatcher) RunPodSandbox(context.Context, *nriapi.PodSandbox) error { return nil }

// TestNoNRIRuntimeFailsTheStubCleanly: with noNRIRuntime, an NRI plugin
// stub (as kube-network-policies creates one) returns an error from Run at
// once, without dialling a runtime's socket and without a panic.
func TestNoNRIRuntimeFailsTheStubCleanly(t *testing.T) {
	t.Setenv("NRI_PLUGIN_SOCKET", "")
	if err := noNRIRuntime(); err != nil {
		t.Fatal(err)
	}
	s, err := stub.New(podWatcher{}, stub.WithPluginName("kprobe-test"), stub.WithPluginIdx("99"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Run(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("Run: %v (context %v), want an immediate error", err, ctx.Err())
	} else {
		t.Logf("Run: %v", err)
	}
}
