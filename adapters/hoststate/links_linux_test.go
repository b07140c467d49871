//go:build linux

package hoststate

import (
	"context"
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inFreshNetns runs f on a thread of its own in a new network namespace,
// which starts with lo down (as a sandbox with an empty network does), and
// with no ip command on PATH: launch and stop must not need iproute2.
func inFreshNetns(t *testing.T, f func()) {
	t.Helper()
	if os.Getuid() != 0 || testing.Short() {
		t.Skip("needs root (a new network namespace); skipped with -short")
	}
	t.Setenv("PATH", t.TempDir())
	inNewNetns(t, f)
}

// inNewNetns runs f on a thread of its own in a new network namespace
// and waits for it.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The thread is left in the new namespace: never unlock it, so
		// that Go ends it with the goroutine.
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			t.Errorf("new network namespace: %v", err)
			return
		}
		defer ns.Close()
		f()
	}()
	<-done
}

func linkUp(t *testing.T, name string) bool {
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return false
	}
	return l.Attrs().Flags&net.FlagUp != 0
}

func TestLoopbackUpAndBackWithoutIproute2(t *testing.T) {
	inFreshNetns(t, func() {
		if linkUp(t, "lo") {
			t.Error("a new network namespace starts with lo down")
		}
		s := &Snapshot{}
		if err := s.LoopbackUp(context.Background()); err != nil {
			t.Fatalf("LoopbackUp: %v", err)
		}
		if !s.LoopbackDown || !linkUp(t, "lo") {
			t.Fatalf("lo up %v, journaled %v", linkUp(t, "lo"), s.LoopbackDown)
		}
		if err := s.AddressOnLoopback(context.Background()); err != nil {
			t.Fatalf("AddressOnLoopback: %v", err)
		}
		made, err := EnsureAddress(context.Background())
		if err != nil || !made {
			t.Fatalf("EnsureAddress: made %v, %v", made, err)
		}
		if _, err := netlink.LinkByName(DummyLink); err != nil {
			t.Fatalf("the stand-in veth: %v", err)
		}
		if err := deleteLink(DummyLink); err != nil {
			t.Errorf("delete %s: %v", DummyLink, err)
		}
		// Undo's loopback part (the rest of Undo reads the host's tables).
		s.undoLoopback(func(string, ...any) {}, func(e error) { t.Errorf("undo: %v", e) })
		if linkUp(t, "lo") {
			t.Error("stop must set lo down again")
		}
		addrs, _ := netlink.AddrList(nil, netlink.FAMILY_V4)
		for _, a := range addrs {
			if a.IP.String() == StandInAddress {
				t.Errorf("stop left %s", a.IPNet)
			}
		}
	})
}
