// Command runc-wrapper is the runtime-wrapper shim as a binary of its own,
// for running it without kprobe's main (by hand, or in tests of the
// launcher): the shim's Env.WrapperCommand = {"/path/to/runc-wrapper"}.
//
//	runc-wrapper --runtime /usr/sbin/runc [--cgroupns auto|drop|keep] [--oom-score-adj ...] \
//	    [--sysctls ...] [--ignore-cgroups] [--runtime-flag F]... [--log FILE] -- RUNC-ARGS...
//
// See adapters/shims.WrapperMain.
package main

import (
	"os"

	"github.com/kprobe/kprobe/adapters/shims"
)

func main() {
	os.Exit(shims.WrapperMain(os.Args[1:]))
}
