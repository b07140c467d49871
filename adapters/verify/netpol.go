package verify

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// denyAllName is the NetworkPolicy the networkpolicy check applies.
const denyAllName = "kprobe-deny-all-ingress"

// denyAllManifest selects every pod of ns and allows no ingress.
func denyAllManifest(ns string) string {
	return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: %s, namespace: %s}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`, denyAllName, ns)
}

// checkNetworkPolicy applies a deny-all ingress policy to the checks'
// namespace, shows that the pod client can no longer reach the Service
// web, deletes the policy and shows that it can again. The later checks
// run in the same namespace, so the policy never outlives this check.
func (r *runner) checkNetworkPolicy() (string, error) {
	ns := r.o.Namespace
	ip, err := r.kubectl("", "-n", ns, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")
	if err != nil {
		return "", err
	}
	// One new connection per try: the enforcer judges a connection by
	// its first packet, and nc -w 2 gives up on a dropped SYN.
	answers := func() bool {
		out, err := r.kubectl("", "-n", ns, "exec", "client", "--", "sh", "-c",
			"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 "+ip+" 80")
		return err == nil && strings.Contains(out, "verify-ok")
	}
	// until waits up to 45 s for want answers in a row, and says how long.
	until := func(want bool, n int) (time.Duration, bool) {
		start, got := time.Now(), 0
		for time.Since(start) < 45*time.Second && r.ctx.Err() == nil {
			if answers() == want {
				if got++; got == n {
					return time.Since(start), true
				}
				continue
			}
			got = 0
			time.Sleep(300 * time.Millisecond)
		}
		return time.Since(start), false
	}
	if _, ok := until(true, 1); !ok {
		return "", fmt.Errorf("the pod client does not reach service web (%s:80) even without a policy", ip)
	}
	if _, err := r.kubectl(denyAllManifest(ns), "apply", "-f", "-"); err != nil {
		return "", err
	}
	defer func() {
		// Whatever happened, the later checks must not run under it.
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cleanup := &runner{o: r.o, ctx: dctx}
		_, _ = cleanup.kubectl("", "-n", ns, "delete", "networkpolicy", denyAllName, "--ignore-not-found")
	}()
	// Three refused connections in a row: one could be a slow pod.
	blocked, ok := until(false, 3)
	if !ok {
		return "", fmt.Errorf("NetworkPolicy %s (deny all ingress) applied, but the pod client still reaches service web (%s:80) after %s: the policy is not enforced", denyAllName, ip, blocked.Round(time.Second))
	}
	if _, err := r.kubectl("", "-n", ns, "delete", "networkpolicy", denyAllName); err != nil {
		return "", err
	}
	allowed, ok := until(true, 1)
	if !ok {
		return "", fmt.Errorf("NetworkPolicy %s deleted, but the pod client still cannot reach service web (%s:80) after %s", denyAllName, ip, allowed.Round(time.Second))
	}
	return fmt.Sprintf("deny-all ingress policy: client -> service web (%s:80) blocked within %s (3 connections in a row refused); policy deleted: answered again within %s",
		ip, blocked.Round(100*time.Millisecond), allowed.Round(100*time.Millisecond)), nil
}
