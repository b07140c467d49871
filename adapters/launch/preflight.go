package launch

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/kprobe/kprobe/adapters/datadir"
	"github.com/kprobe/kprobe/adapters/supervise"
)

// UpstreamPorts are the ports the kubernetes engine listens on: the API,
// etcd (client, peer), the kubelet, controller-manager, scheduler and
// kube-proxy.
var UpstreamPorts = []int{6443, 2379, 2380, 10248, 10250, 10257, 10259, 10249, 10256}

// shiftPorts adds a launch's --port-offset to each port.
func shiftPorts(ports []int, offset int) []int {
	out := make([]int, len(ports))
	for i, p := range ports {
		out[i] = p + offset
	}
	return out
}

// portOffsetPreflight refuses a port offset where it cannot keep two
// clusters apart: a rung that runs the kubelet (T0-T2) also shares the
// host's CNI bridge, iptables chains and cgroups with any other one.
func portOffsetPreflight(offset int, agent bool) error {
	switch {
	case offset == 0:
		return nil
	case offset < 0 || 10259+offset > 65535:
		return &PreflightError{Problems: []string{fmt.Sprintf("--port-offset %d puts a port outside 1-65535", offset)}}
	case agent:
		return &PreflightError{Problems: []string{"--port-offset runs a second cluster at TP or T3 only (launch --rung TP or --rung T3): at T0-T2 the kubelet shares the host's CNI bridge, iptables chains and cgroups with any other cluster"}}
	}
	return nil
}

// Preflight checks, before anything starts, that the data dir is one
// kprobe made (or may make), that no launch runs from it and that the
// ports are free. It returns the data dir's lock, taken: the launch holds
// it until it hands it to the supervisor (detach), which holds it for its
// life, so that a second launch of the same data dir fails at once.
func Preflight(dataDir string, ports []int) (*os.File, error) {
	var problems []string
	if _, err := datadir.Validate(dataDir); err != nil {
		return nil, &PreflightError{Problems: []string{err.Error()}}
	}
	if err := checkDataDir(dataDir); err != nil {
		return nil, &PreflightError{Problems: []string{err.Error()}}
	}
	lock, err := supervise.Lock(dataDir)
	if errors.Is(err, supervise.ErrLocked) {
		who := "another kprobe launch is starting it"
		if st, err := supervise.ReadState(dataDir); err == nil && st.Alive() {
			who = fmt.Sprintf("supervisor pid %d", st.SupervisorPID)
		}
		return nil, &PreflightError{Problems: []string{fmt.Sprintf("a cluster is already running from %s (%s): see `kprobe status --data-dir %s`, or `kprobe stop --data-dir %s` first",
			dataDir, who, dataDir, dataDir)}}
	}
	if err != nil {
		return nil, &PreflightError{Problems: []string{fmt.Sprintf("data dir %s cannot be locked: %v", dataDir, err)}}
	}
	for _, p := range ports {
		if err := portFree(p); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		lock.Close()
		return nil, &PreflightError{Problems: problems}
	}
	return lock, nil
}

func checkDataDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("data dir %s exists and is not a directory: pass another --data-dir", dir)
	}
	// Only a directory kprobe made (or an empty one it adopts) is used.
	if err := datadir.Create(dir); err != nil {
		return err
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
