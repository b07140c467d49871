// Command coredns is CoreDNS v1.15.0 (github.com/coredns/coredns, pinned in
// this module's go.mod) with the plugins the cluster DNS Corefile of kprobe
// launch uses, which are those k3s's Corefile uses plus log and bind. It
// is the upstream server (coremain.Run) with a smaller plugin set than the
// release binary's: the stock core/plugin package links every cloud
// backend (Route 53, Azure, Cloud DNS, Datadog tracing, ...), which would
// triple the module download and the cold build for plugins a single-node
// sandbox cluster never loads. CoreDNS documents this way of choosing
// plugins at compile time: the directive order stays the one of
// core/dnsserver, so a Corefile means the same as with the release.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
