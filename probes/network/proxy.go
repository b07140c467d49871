package network

import (
	"net/netip"
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// ClusterRanges are the address ranges cluster traffic goes to: the
// upstream engine's pods and Services, k3s's pods and Services.
var ClusterRanges = []string{"10.244.0.0/16", "10.96.0.0/12", "10.42.0.0/16", "10.43.0.0/16"}

// CodeProxyCapture: a proxy in the environment would carry traffic meant
// for the cluster.
var CodeProxyCapture = probes.Code{Code: "KP-NET-009", Severity: probes.Warn,
	Title:   "a proxy in the environment would capture cluster traffic",
	Meaning: "HTTP_PROXY or HTTPS_PROXY is set and NO_PROXY does not cover loopback and the pod and Service ranges: kubectl, helm and the components kprobe starts (which inherit the environment) would send API and Service traffic to the proxy.",
	Fix:     "export NO_PROXY=\"$NO_PROXY,127.0.0.1,localhost,10.244.0.0/16,10.96.0.0/12,10.42.0.0/16,10.43.0.0/16,.svc,.cluster.local\" (and no_proxy likewise) before kprobe launch"}

// proxyEnv judges the proxy variables of the environment kprobe runs in.
func proxyEnv(env *probes.Env, o *probes.Observation) {
	vars := map[string]string{}
	for _, kv := range env.Sys.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		vars[strings.ToUpper(k)] = v
	}
	proxy := vars["HTTPS_PROXY"] != "" || vars["HTTP_PROXY"] != "" || vars["ALL_PROXY"] != ""
	o.Set("net.proxy", probes.TriOf(proxy))
	if !proxy {
		return
	}
	missing := NoProxyMissing(vars["NO_PROXY"])
	o.Set("net.no_proxy_covers_cluster", probes.TriOf(len(missing) == 0))
	if len(missing) > 0 {
		o.Find(CodeProxyCapture, "a proxy is set and NO_PROXY does not cover "+strings.Join(missing, ", "),
			probes.Evidence{Source: "environment", Excerpt: "NO_PROXY=" + vars["NO_PROXY"]})
	}
}

// NoProxyMissing lists what a NO_PROXY value leaves to the proxy among
// 127.0.0.1 and ClusterRanges: an entry covers a range when it is "*" or
// a CIDR containing it.
func NoProxyMissing(noProxy string) []string {
	var prefixes []netip.Prefix
	for _, e := range strings.Split(noProxy, ",") {
		e = strings.TrimSpace(e)
		if e == "*" {
			return nil
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			prefixes = append(prefixes, p.Masked())
		} else if a, err := netip.ParseAddr(e); err == nil {
			prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	covered := func(want netip.Prefix) bool {
		for _, p := range prefixes {
			if p.Bits() <= want.Bits() && p.Contains(want.Addr()) {
				return true
			}
		}
		return false
	}
	var missing []string
	for _, r := range append([]string{"127.0.0.1/32"}, ClusterRanges...) {
		if !covered(netip.MustParsePrefix(r)) {
			missing = append(missing, strings.TrimSuffix(r, "/32"))
		}
	}
	return missing
}
