//go:build linux

package launch

import (
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/kprobe/kprobe/adapters/hoststate"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// nodesLinks makes, through netlink (no iproute2 needed), the nodes'
// bridge with the host's address and, for each worker, its named network
// namespace, a veth pair (kprobe-vethI on the bridge, eth0 inside) with
// the worker's address, lo up, its routes, and the route to its pods on
// the host. The snapshot predates all of it, so stop deletes it.
func nodesLinks(workers []Worker) error {
	// netns.NewNamed switches the calling thread into the new namespace:
	// keep this goroutine on one thread and switch it back each time.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	origin, err := netns.Get()
	if err != nil {
		return fmt.Errorf("this thread's network namespace: %w", err)
	}
	defer origin.Close()
	defer func() { _ = netns.Set(origin) }()

	bits := prefixBits(upstream.NodesNetwork)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: upstream.NodesBridge}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge %s: %w", upstream.NodesBridge, err)
	}
	if err := addAddr(nil, br, upstream.NodeAddress(0)+"/"+bits); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("set %s up: %w", br.Name, err)
	}
	host := net.ParseIP(upstream.NodeAddress(0))
	for _, w := range workers {
		name := filepath.Base(w.Netns)
		ns, err := netns.NewNamed(name)
		if err != nil {
			return fmt.Errorf("add network namespace %s: %w", name, err)
		}
		err = netns.Set(origin)
		if err == nil {
			err = workerLinks(w, ns, br, host, bits, workers)
		}
		ns.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func workerLinks(w Worker, ns netns.NsHandle, br *netlink.Bridge, host net.IP, bits string, workers []Worker) error {
	vethName := hoststate.NodeVethPrefix + strconv.Itoa(w.Index)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: vethName, MasterIndex: br.Attrs().Index},
		PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s (eth0 in %s): %w", vethName, w.Netns, err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return fmt.Errorf("set %s up: %w", vethName, err)
	}
	in, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", w.Netns, err)
	}
	defer in.Close()
	for _, l := range []string{"lo", "eth0"} {
		link, err := in.LinkByName(l)
		if err == nil && l == "eth0" {
			err = addAddr(in, link, w.Address+"/"+bits)
		}
		if err == nil {
			err = in.LinkSetUp(link)
		}
		if err != nil {
			return fmt.Errorf("%s in %s: %w", l, w.Netns, err)
		}
	}
	eth0, err := in.LinkByName("eth0")
	if err != nil {
		return err
	}
	if err := in.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: host}); err != nil {
		return fmt.Errorf("default route via %s in %s: %w", host, w.Netns, err)
	}
	// Straight to the other workers' pods, not through the host.
	for _, o := range workers {
		if o.Index == w.Index {
			continue
		}
		if err := addRoute(in, eth0, o.PodCIDR, o.Address); err != nil {
			return fmt.Errorf("in %s: %w", w.Netns, err)
		}
	}
	return addRoute(nil, br, w.PodCIDR, w.Address)
}

// addAddr adds cidr to link, through h (nil: this namespace).
func addAddr(h *netlink.Handle, link netlink.Link, cidr string) error {
	a, err := netlink.ParseAddr(cidr)
	if err == nil {
		if h == nil {
			err = netlink.AddrAdd(link, a)
		} else {
			err = h.AddrAdd(link, a)
		}
	}
	if err != nil {
		return fmt.Errorf("add %s to %s: %w", cidr, link.Attrs().Name, err)
	}
	return nil
}

// addRoute routes dst via gw on link, through h (nil: this namespace).
func addRoute(h *netlink.Handle, link netlink.Link, dst, gw string) error {
	_, n, err := net.ParseCIDR(dst)
	if err != nil {
		return err
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: n, Gw: net.ParseIP(gw)}
	if h == nil {
		err = netlink.RouteAdd(r)
	} else {
		err = h.RouteAdd(r)
	}
	if err != nil {
		return fmt.Errorf("route %s via %s: %w", dst, gw, err)
	}
	return nil
}

// prefixBits returns the prefix length of cidr as text.
func prefixBits(cidr string) string {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return "32"
	}
	ones, _ := n.Mask.Size()
	return strconv.Itoa(ones)
}
