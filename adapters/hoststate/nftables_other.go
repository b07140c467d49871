//go:build !linux

package hoststate

import "errors"

// deleteNFTable: nf_tables is Linux's.
func deleteNFTable(bin, table string) error {
	return errors.New("nf_tables needs Linux")
}
