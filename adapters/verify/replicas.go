package verify

import (
	"fmt"
	"strings"
	"time"
)

// twinManifest is a Deployment of two replicas listening on the same
// containerPort, each answering its own name, behind the Service twin.
func twinManifest(ns string) string { return httpdManifest(ns, "twin", 2, "twin-$HOSTNAME") }

// checkReplicas rolls out twin and fetches its Service's cluster IP from
// the pod client until both replicas have answered.
func (r *runner) checkReplicas() (string, error) {
	ns := r.o.Namespace
	if _, err := r.kubectl(twinManifest(ns), "apply", "-f", "-"); err != nil {
		return "", err
	}
	if out, err := r.kubectl("", "-n", ns, "rollout", "status", "deployment/twin", "--timeout=90s"); err != nil {
		return lastLine(out), err
	}
	names, err := r.kubectl("", "-n", ns, "get", "pods", "-l", "app=twin", "-o", "jsonpath={.items[*].metadata.name}")
	if err != nil {
		return "", err
	}
	want := strings.Fields(names)
	ip, err := r.kubectl("", "-n", ns, "get", "service", "twin", "-o", "jsonpath={.spec.clusterIP}")
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < len(want) && time.Now().Before(deadline) && r.ctx.Err() == nil {
		out, _ := r.kubectl("", "-n", ns, "exec", "client", "--", "sh", "-c",
			"for i in 1 2 3 4 5 6 7 8; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 "+ip+" 80; done")
		for _, w := range want {
			if strings.Contains(out, "twin-"+w) {
				seen[w] = true
			}
		}
	}
	var got []string
	for w := range seen {
		got = append(got, w)
	}
	if len(seen) < len(want) || len(want) < 2 {
		return "", fmt.Errorf("the Service twin answered from %v, not from every replica of %v", got, want)
	}
	return fmt.Sprintf("both replicas (containerPort 8080) answered through service twin: %s", strings.Join(want, ", ")), nil
}
