//go:build !linux

package hoststate

import "errors"

var errNoNetlink = errors.New("links are changed through netlink, which only Linux has")

func setLink(string, bool) error            { return errNoNetlink }
func addrChange(string, string, bool) error { return errNoNetlink }
func deleteLink(string) error               { return errNoNetlink }
func addStandInVeth() error                 { return errNoNetlink }
