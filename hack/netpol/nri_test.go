package netpol

import (
	"context"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	nriapi "github.com/containerd/nri/pkg/api"
	nrinet "github.com/containerd/nri/pkg/net"
	"github.com/containerd/nri/pkg/stub"
	"golang.org/x/sys/unix"
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

// TestNoNRISocketSurvivesGC: garbage collections between noNRIRuntime and
// the stub's Run leave the descriptor NRI_PLUGIN_SOCKET names on
// /dev/null, so the stub never wraps (and closes) a socket that reused
// the number. Before the file was held (ab693fb) the first GC closed it,
// the next socket got the number and the stub's net.NewFdConn took that
// socket over and closed it; in the enforcer that can be its nfqueue
// socket, which leaves a fail-closed queue without a listener.
func TestNoNRISocketSurvivesGC(t *testing.T) {
	t.Setenv("NRI_PLUGIN_SOCKET", "")
	if err := noNRIRuntime(); err != nil {
		t.Fatal(err)
	}
	fd, err := strconv.Atoi(os.Getenv("NRI_PLUGIN_SOCKET"))
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	l, err := net.Listen("tcp", "127.0.0.1:0") // takes the lowest free number
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var null, st unix.Stat_t
	if err := unix.Stat(os.DevNull, &null); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(fd, &st); err != nil || st.Rdev != null.Rdev || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Fatalf("after GC, descriptor %d is no longer /dev/null (fstat: %v, mode %o): a later socket can take its number", fd, err, st.Mode)
	}
	if c, err := nrinet.NewFdConn(fd); err == nil {
		c.Close()
		t.Fatalf("the stub's connection from descriptor %d is a socket", fd)
	}
}
