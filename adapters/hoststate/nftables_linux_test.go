package hoststate

import (
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// The finding (issue 18): in the zoo's cgroup v2 VM, whose Debian has
// iptables-nft but no nft command, stop could not delete the six empty
// tables the cluster had created ("nft": executable file not found), kept
// the data dir and exited 1. The tables go over netlink now.
func TestDeleteNFTableWithoutTheNftCommand(t *testing.T) {
	inFreshNetns(t, func() { // PATH holds nothing: no nft
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		c, err := nftables.New(nftables.WithNetNSFd(fd))
		if err != nil {
			t.Fatal(err)
		}
		for _, fam := range []nftables.TableFamily{nftables.TableFamilyIPv4, nftables.TableFamilyIPv6} {
			c.AddTable(&nftables.Table{Name: "nat", Family: fam})
		}
		if err := c.Flush(); err != nil {
			t.Fatalf("add the tables: %v", err)
		}
		for _, bin := range iptablesBins {
			if err := deleteNFTable(bin, "nat", nftables.WithNetNSFd(fd)); err != nil {
				t.Errorf("%s nat: %v", bin, err)
			}
		}
		left, err := c.ListTables()
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range left {
			t.Errorf("table %s (family %d) is still there", tb.Name, tb.Family)
		}
	})
}
