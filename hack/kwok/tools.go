//go:build tools

// Package kwok pins the kwok controller that `kprobe launch
// --simulate-nodes` runs to fake nodes where no kubelet can start.
// `make engine` builds it from this module; nothing here is imported by
// kprobe itself.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
