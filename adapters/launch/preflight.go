package launch

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/kprobe/kprobe/adapters/supervise"
)

// UpstreamPorts are the ports the kubernetes engine listens on: the API,
// etcd (client, peer), the kubelet, controller-manager, scheduler and
// kube-proxy.
var UpstreamPorts = []int{6443, 2379, 2380, 10248, 10250, 10257, 10259, 10249, 10256}

// PreflightError is a clear "cannot start" with the fix.
type PreflightError struct{ Problems []string }

func (e *PreflightError) Error() string {
	return "cannot launch:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Preflight checks, before anything starts, that no launch runs from the
// data dir, that the data dir is usable and that the ports are free.
func Preflight(dataDir string, ports []int) error {
	var problems []string
	if !filepath.IsAbs(dataDir) {
		return &PreflightError{[]string{fmt.Sprintf("--data-dir %q must be an absolute path", dataDir)}}
	}
	if supervise.Locked(dataDir) {
		pid := 0
		if st, err := supervise.ReadState(dataDir); err == nil {
			pid = st.SupervisorPID
		}
		return &PreflightError{[]string{fmt.Sprintf("a cluster is already running from %s (supervisor pid %d): see `kprobe status --data-dir %s`, or `kprobe stop --data-dir %s` first",
			dataDir, pid, dataDir, dataDir)}}
	}
	if err := checkDataDir(dataDir); err != nil {
		problems = append(problems, err.Error())
	}
	for _, p := range ports {
		if err := portFree(p); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return &PreflightError{problems}
	}
	return nil
}

func checkDataDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("data dir %s exists and is not a directory: pass another --data-dir", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data dir %s cannot be created: %v", dir, err)
	}
	f, err := os.CreateTemp(dir, ".kprobe-write-test-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %v", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	for _, sub := range []string{"pki", "run", "kubeconfigs"} {
		p := filepath.Join(dir, sub)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return fmt.Errorf("data dir %s is broken: %s is not a directory; remove it or run `kprobe stop --purge --data-dir %s`", dir, p, dir)
		}
	}
	return nil
}

// portFree tries to listen on a port on every address.
func portFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		if errors.Is(err, errAddrInUse) || strings.Contains(err.Error(), "address already in use") {
			return fmt.Errorf("port %d is in use%s: stop what listens there (`ss -ltnp 'sport = :%d'`)", port, holder(port), port)
		}
		return fmt.Errorf("port %d cannot be bound: %v", port, err)
	}
	return l.Close()
}
