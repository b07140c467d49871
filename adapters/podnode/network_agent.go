package podnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kprobe/kprobe/adapters/bindtrace"
	"github.com/kprobe/kprobe/adapters/svcproxy"
)

// lowPortsBindable says (nil) whether the agent may listen on a port below
// 1024 of a, an address nobody else uses; the error is EACCES where the
// sandbox's network namespace belongs to a user namespace above the
// agent's (rootless runc, unshare -U in the host's network) and
// net.ipv4.ip_unprivileged_port_start is 1024.
func lowPortsBindable(a netip.Addr) error {
	l, err := net.Listen("tcp", netip.AddrPortFrom(a, 1).String())
	if err != nil {
		if errors.Is(err, syscall.EACCES) {
			return err
		}
		return nil // another failure says nothing about the port's privilege
	}
	return l.Close()
}

// startNetwork sets up the pods' addresses and DNS and starts the Service
// proxy, which runs until ctx ends.
func startNetwork(ctx context.Context, cfg Config, pc *providerConfig) error {
	pc.clusterDNS, pc.clusterDomain = cfg.ClusterDNS, cfg.ClusterDomain
	if pc.clusterDomain == "" {
		pc.clusterDomain = "cluster.local"
	}
	var podCIDR netip.Prefix
	if cfg.PodCIDR != "" {
		a, err := newPodAddrs(cfg.PodCIDR)
		if err != nil {
			return fmt.Errorf("podnode: --pod-cidr: %w", err)
		}
		pc.addrs, podCIDR = a, a.prefix
		// The probe listens on the mirror of the range's .1, which no pod gets.
		if err := checkOwnBinds(svcproxy.Mirror(podCIDR.Addr().Next())); err != nil {
			cfg.Log("pod addresses: binds are not rewritten (%v): pods share the sandbox's ports (event PortCollision)", err)
		} else {
			pc.ownBinds, pc.keep = true, loopbackServices(pc.apiServer, readHostResolv())
			cfg.Log("pod addresses: each pod's binds to all addresses or loopback and its connects to loopback go to its own address (ptrace)")
		}
		if err := lowPortsBindable(svcproxy.Mirror(podCIDR.Addr().Next())); err != nil {
			services, perr := netip.ParsePrefix(cfg.ServiceCIDR)
			switch {
			case !pc.ownBinds:
				cfg.Log("service proxy: ports below 1024 cannot be bound here (%v) and pods' connects are not traced: Service ports below 1024 do not answer", err)
			case perr != nil:
				cfg.Log("service proxy: ports below 1024 cannot be bound here (%v) and no --service-cidr was given: Service ports below 1024 do not answer", err)
			default:
				pc.shift = bindtrace.Shift{Prefix: services, Offset: svcproxy.PrivilegedPortOffset}
				cfg.Log("service proxy: ports below 1024 cannot be bound here (%v): Service ports below 1024 listen at port+%d, where pods' connects to %s are moved (ptrace)", err, svcproxy.PrivilegedPortOffset, services)
			}
		}
	}
	if cfg.ProxyKubeconfig == "" {
		return nil
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.ProxyKubeconfig)
	if err != nil {
		return fmt.Errorf("podnode: --proxy-kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	addrs := svcproxy.Addresses{PodCIDR: podCIDR, NodePorts: netip.IPv4Unspecified(), OwnBinds: pc.ownBinds, LowPortOffset: pc.shift.Offset}
	// The API server where the agent reaches it.
	if u, err := url.Parse(rc.Host); err == nil {
		port := u.Port()
		if port == "" {
			port = "443"
		}
		addrs.APIServer, _ = netip.ParseAddrPort(net.JoinHostPort(u.Hostname(), port))
	}
	go func() {
		err := svcproxy.Run(ctx, svcproxy.Config{Client: client, Addresses: addrs, Log: cfg.Log})
		if err != nil && ctx.Err() == nil {
			cfg.Log("svcproxy: stopped: %v", err)
		}
	}()
	cfg.Log("service proxy: ClusterIPs and NodePorts served in the sandbox (pod CIDR %s mirrored on 127.0.0.0/8)", cfg.PodCIDR)
	return nil
}

// loopbackServices are the sandbox's services on loopback that pods are
// told to reach there: the API server (KUBERNETES_SERVICE_HOST, the
// agent's own server URL) and the resolvers of the sandbox's resolv.conf
// (dnsPolicy Default, CoreDNS's upstream). Their connects are not
// rewritten to the pod's own address.
func loopbackServices(apiServer string, hostResolv []byte) []netip.AddrPort {
	var keep []netip.AddrPort
	if u, err := url.Parse(apiServer); err == nil {
		port := u.Port()
		if port == "" {
			port = "443"
		}
		if ap, err := netip.ParseAddrPort(net.JoinHostPort(u.Hostname(), port)); err == nil && ap.Addr().IsLoopback() {
			keep = append(keep, ap)
		}
	}
	servers, _, _ := parseResolv(hostResolv)
	for _, s := range servers {
		if a, err := netip.ParseAddr(s); err == nil && a.IsLoopback() {
			keep = append(keep, netip.AddrPortFrom(a, 53))
		}
	}
	return keep
}
