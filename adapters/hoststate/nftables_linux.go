package hoststate

import "github.com/google/nftables"

// deleteNFTable deletes an nf_tables table of an iptables command's
// family over netlink, as `nft delete table` does, so that stop does not
// need the nft command: a machine with iptables-nft alone (Debian's
// iptables package does not pull in nftables) has none.
func deleteNFTable(bin, table string, opts ...nftables.ConnOption) error {
	c, err := nftables.New(opts...)
	if err != nil {
		return err
	}
	fam := nftables.TableFamilyIPv4
	if bin == "ip6tables" {
		fam = nftables.TableFamilyIPv6
	}
	c.DelTable(&nftables.Table{Name: table, Family: fam})
	return c.Flush()
}
