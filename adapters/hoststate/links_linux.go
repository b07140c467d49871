//go:build linux

package hoststate

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// The host's links and addresses are changed through netlink, not the ip
// command: iproute2 is not installed everywhere (minimal images, some
// sandboxes), and stop must be able to undo what launch did without it.

// setLink brings the link name up or down.
func setLink(name string, up bool) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if up {
		return netlink.LinkSetUp(l)
	}
	return netlink.LinkSetDown(l)
}

// addrChange adds (add) or deletes an address in CIDR notation on link.
func addrChange(link, cidr string, add bool) error {
	l, err := netlink.LinkByName(link)
	if err != nil {
		return err
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	if add {
		return netlink.AddrAdd(l, a)
	}
	return netlink.AddrDel(l, a)
}

// deleteLink deletes the link name (a veth's peer goes with it).
func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkDel(l)
}

// addStandInVeth makes the veth pair DummyLink with StandInAddress/31
// and a default route through the other half of the /31.
func addStandInVeth() (err error) {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: DummyLink}, PeerName: DummyLink + "p"}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", DummyLink, err)
	}
	defer func() {
		if err != nil {
			_ = netlink.LinkDel(veth)
		}
	}()
	for _, name := range []string{DummyLink, DummyLink + "p"} {
		if err := setLink(name, true); err != nil {
			return fmt.Errorf("set %s up: %w", name, err)
		}
	}
	if err := addrChange(DummyLink, StandInAddress+"/31", true); err != nil {
		return fmt.Errorf("add %s/31 to %s: %w", StandInAddress, DummyLink, err)
	}
	l, err := netlink.LinkByName(DummyLink)
	if err != nil {
		return err
	}
	gw := net.ParseIP("203.0.113.255")
	if gw == nil {
		return errors.New("bad gateway")
	}
	if err := netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw, Priority: 1000}); err != nil {
		return fmt.Errorf("add default route via %s: %w", gw, err)
	}
	return nil
}
