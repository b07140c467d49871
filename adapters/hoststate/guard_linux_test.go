//go:build linux

package hoststate

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// connectAs connects to addr as uid from a child process (bash's
// /dev/tcp), which inherits the calling thread's network namespace.
func connectAs(uid int, addr string) error {
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// TestOwnerOnlyRefusesOtherUsers: kube-proxy's metrics port answers
// whoever connects; the guard rule lets only the cluster's uid through,
// and Undo takes it away again, in a throw-away network namespace.
func TestOwnerOnlyRefusesOtherUsers(t *testing.T) {
	if os.Getuid() != 0 || testing.Short() {
		t.Skip("needs root (a new network namespace, iptables); skipped with -short")
	}
	for _, bin := range []string{"iptables", "bash"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("no %s: %v", bin, err)
		}
	}
	inNewNetns(t, func() {
		ctx := context.Background()
		s, err := Take(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		if err := s.LoopbackUp(ctx); err != nil {
			t.Error(err)
			return
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		addr := l.Addr().String()
		port := l.Addr().(*net.TCPAddr).Port
		if err := connectAs(65534, addr); err != nil {
			t.Errorf("without the guard nobody connects (the finding): %v", err)
		}
		for range 2 { // twice: a relaunch adds nothing
			if err := OwnerOnly(ctx, "127.0.0.1", port, 0); err != nil {
				t.Errorf("OwnerOnly: %v", err)
				return
			}
		}
		if err := connectAs(65534, addr); err == nil {
			t.Error("with the guard, nobody still connects")
		}
		if err := connectAs(0, addr); err != nil {
			t.Errorf("with the guard, the cluster's uid cannot connect: %v", err)
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
			t.Errorf("this process (root) cannot connect: %v", err)
		} else {
			c.Close()
		}
		rules, _ := exec.Command("iptables", "-w", "-S").Output()
		if n := strings.Count(string(rules), "-j "+GuardChain); n != 1 {
			t.Errorf("%d jumps to %s, want 1:\n%s", n, GuardChain, rules)
		}
		if left := s.iptablesLeftovers(ctx); len(left) == 0 {
			t.Error("the host check does not see the guard chain")
		}
		if _, errs := s.undoIptables(ctx); len(errs) > 0 {
			t.Errorf("undo: %v", errs)
		}
		if left := s.iptablesLeftovers(ctx); len(left) > 0 {
			t.Errorf("after undo: %v", left)
		}
		if out, _ := exec.Command("iptables-save").Output(); strings.Contains(string(out), "-A") {
			t.Errorf("after undo iptables still holds rules:\n%s", out)
		}
		if err := connectAs(65534, addr); err != nil {
			t.Errorf("after undo: %v", err)
		}
	})
}
