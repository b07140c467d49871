//go:build !linux

package soak

func readRSS(int) (int64, bool) { return 0, false }

type procScan struct {
	Shims    int
	ShimsRSS int64
	PodPIDs  map[string][]int
	AnyPod   bool
}

func scanProcs(func(string) bool, map[string]bool) procScan {
	return procScan{PodPIDs: map[string][]int{}}
}

func cmdline(int) string { return "" }
