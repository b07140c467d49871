package launchhost

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// PreflightError is a clear "cannot start" with the fix.
type PreflightError struct{ Problems []string }

func (e *PreflightError) Error() string {
	return "cannot launch:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// KubeconfigPath is the admin kubeconfig a launch writes.
func KubeconfigPath(dataDir string) string { return filepath.Join(dataDir, "kubeconfig") }

// ControlPlaneOnly keeps, of the programs FindUpstream missed, those a
// launch without a kubelet (TP, T3) needs: nil when it can run.
func ControlPlaneOnly(err error) error {
	var me *MissingError
	if !errors.As(err, &me) {
		return err
	}
	var still []string
	for _, m := range me.Missing {
		switch m {
		case "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd":
			still = append(still, m)
		}
	}
	if len(still) == 0 {
		return nil
	}
	me.Missing = still
	return me
}

// APIBindAddress is the address kube-apiserver binds, and why, for the
// plan's notes. bindAddress (launch --bind-address) when given; otherwise
// the narrowest that works: loopback for a control plane alone (T3, or no
// address but loopback), the node's address when pods run (they reach the
// API through the kubernetes Service, whose endpoint is the API server's
// advertised address, and an advertised address cannot be loopback), and
// the host's end of the nodes' bridge for --nodes N (the workers and
// their pods reach it there). Never every address unless asked.
func APIBindAddress(bindAddress string, nodes int, plan *adapters.Plan, nodeIP string) (string, string, error) {
	multi := nodes > 1 && plan.Worker()
	if bindAddress != "" {
		ip := net.ParseIP(bindAddress)
		if ip == nil {
			return "", "", &PreflightError{[]string{fmt.Sprintf("--bind-address %q is not an IP address", bindAddress)}}
		}
		if multi && !ip.IsUnspecified() && bindAddress != upstream.NodeAddress(0) {
			return "", "", &PreflightError{[]string{fmt.Sprintf("--bind-address %s with --nodes %d: the workers reach the API server at %s; pass --bind-address %s (the default) or 0.0.0.0",
				bindAddress, nodes, upstream.NodeAddress(0), upstream.NodeAddress(0))}}
		}
		return bindAddress, fmt.Sprintf("kube-apiserver binds %s (--bind-address); anonymous requests reach /livez, /readyz and /healthz only", bindAddress), nil
	}
	var bind, why string
	switch {
	case multi:
		bind, why = upstream.NodeAddress(0), "the host's end of the nodes' bridge, where the workers and their pods reach it"
	case !plan.Worker() || nodeIP == "127.0.0.1":
		bind, why = "127.0.0.1", "loopback: no pod runs here"
	default:
		bind, why = nodeIP, "the node's address: pods reach the API through the kubernetes Service, whose endpoint it is, and it cannot be loopback"
	}
	return bind, fmt.Sprintf("kube-apiserver binds %s (%s; --bind-address changes it); anonymous requests reach /livez, /readyz and /healthz only", bind, why), nil
}

// NodeIP is the IPv4 address of the default route's interface, or
// 127.0.0.1 in a sandbox with loopback only.
func NodeIP() string {
	if name := defaultInterface(); name != "" {
		if ifc, err := net.InterfaceByName(name); err == nil {
			if addrs, err := ifc.Addrs(); err == nil {
				for _, a := range addrs {
					if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
						return ipn.IP.String()
					}
				}
			}
		}
	}
	return "127.0.0.1"
}

func defaultInterface() string {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 2 && f[1] == "00000000" {
			return f[0]
		}
	}
	return ""
}
