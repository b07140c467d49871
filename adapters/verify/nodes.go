package verify

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The nodes check (issue 7): on a cluster with several real nodes
// (`kprobe launch --nodes N`), a DaemonSet puts a web pod on every node,
// each pod fetches the page of the pod on the next node by its pod IP
// (pod to pod across nodes, through the CNI and the routes between
// nodes), and a client pod fetches a ClusterIP Service over all of them
// until every node's pod has answered (kube-proxy across nodes).

// realNodes lists the nodes that run containers: kwok's simulated ones
// are left out.
func (r *runner) realNodes() []string {
	out, err := r.kubectl("", "get", "nodes", "-l", "!"+simulatedKey, "-o", `jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}`)
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}

func spreadManifest(ns string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: spread, namespace: %[1]s}
spec:
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      terminationGracePeriodSeconds: 0
      automountServiceAccountToken: false
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: %[2]s, operator: DoesNotExist}]
      containers:
      - name: web
        image: docker.io/library/busybox:1.35
        imagePullPolicy: Never
        env: [{name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
        # /cgi-bin/who names the node and the address the request came
        # from: between pods it must be the client pod's own (no NAT).
        command:
        - sh
        - -c
        - |
          mkdir -p /www/cgi-bin
          printf '#!/bin/sh\necho Content-Type: text/plain\necho\necho spread-from-%%s client=$REMOTE_ADDR\n' "$NODE_NAME" > /www/cgi-bin/who
          chmod +x /www/cgi-bin/who
          exec httpd -f -p 8080 -h /www
        ports: [{containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: spread, namespace: %[1]s}
spec:
  selector: {app: spread}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: spread-client, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  containers:
  - name: client
    image: docker.io/library/busybox:1.35
    imagePullPolicy: Never
    command: ["sleep", "3600"]
`, ns, simulatedKey)
}

// spreadPod is one pod of the DaemonSet.
type spreadPod struct{ name, node, ip string }

// fetch runs an HTTP/1.0 GET of /cgi-bin/who at addr from a pod (busybox
// nc: its wget crashes in the static build) and returns the node that
// answered and the client address it saw.
func (r *runner) fetch(pod, addr string) (node, client string, err error) {
	out, err := r.kubectl("", "-n", r.o.Namespace, "exec", pod, "--", "sh", "-c",
		"printf 'GET /cgi-bin/who HTTP/1.0\\r\\n\\r\\n' | nc -w 3 "+addr)
	if err != nil {
		return "", "", err
	}
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "spread-from-"); ok {
			node, client, _ = strings.Cut(rest, " client=")
			// httpd listens on IPv6 too: "[::ffff:10.244.0.6]".
			client = strings.TrimPrefix(strings.Trim(client, "[]"), "::ffff:")
			return node, client, nil
		}
	}
	return "", "", fmt.Errorf("%s answered %q", addr, firstLines(out, 2))
}

// checkNodes is the nodes check for the given real nodes.
func (r *runner) checkNodes(nodes []string) (string, error) {
	ns := r.o.Namespace
	if _, err := r.kubectl(spreadManifest(ns), "apply", "-f", "-"); err != nil {
		return "", err
	}
	if _, err := r.kubectl("", "-n", ns, "rollout", "status", "daemonset/spread", "--timeout=90s"); err != nil {
		return "", err
	}
	out, err := r.kubectl("", "-n", ns, "get", "pods", "-l", "app=spread", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP}{"\n"}{end}`)
	if err != nil {
		return "", err
	}
	onNode := map[string]spreadPod{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			onNode[f[1]] = spreadPod{name: f[0], node: f[1], ip: f[2]}
		}
	}
	var pods []spreadPod
	var missing []string
	for _, n := range nodes {
		p, ok := onNode[n]
		if !ok {
			missing = append(missing, n)
		}
		pods = append(pods, p)
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("the DaemonSet has no pod on %s (pods: %s)", strings.Join(missing, ", "), strings.TrimSpace(out))
	}
	var placed []string
	for _, p := range pods {
		placed = append(placed, p.node+" "+p.ip)
	}

	// Pod to pod across nodes: each pod fetches from the next node's pod,
	// so every node sends and receives.
	var hops []string
	for i, from := range pods {
		to := pods[(i+1)%len(pods)]
		start := time.Now()
		got, seen, err := r.fetch(from.name, to.ip+" 8080")
		switch {
		case err != nil:
		case got != to.node:
			err = fmt.Errorf("the pod at %s says it runs on %s, not %s", to.ip, got, to.node)
		case seen != from.ip:
			err = fmt.Errorf("the pod on %s saw the request come from %s, not from the pod's address %s (translated on the way)", to.node, seen, from.ip)
		}
		if err != nil {
			return "", fmt.Errorf("pod on %s -> pod %s on %s: %w", from.node, to.ip, to.node, err)
		}
		hops = append(hops, fmt.Sprintf("%s->%s %dms", from.node, to.node, time.Since(start).Milliseconds()))
	}

	// A Service spanning the nodes, from a client pod: every node's pod
	// must answer; kube-proxy picks backends at random.
	if _, err := r.kubectl("", "-n", ns, "wait", "--for=condition=Ready", "pod/spread-client", "--timeout=90s"); err != nil {
		return "", err
	}
	clientNode, _ := r.kubectl("", "-n", ns, "get", "pod", "spread-client", "-o", "jsonpath={.spec.nodeName}")
	ip, err := r.kubectl("", "-n", ns, "get", "service", "spread", "-o", "jsonpath={.spec.clusterIP}")
	if err != nil {
		return "", err
	}
	answered := map[string]int{}
	requests := 0
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for len(answered) < len(nodes) && time.Now().Before(deadline) && r.ctx.Err() == nil {
		requests++
		got, _, err := r.fetch("spread-client", ip+" 80")
		if err != nil {
			last = err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		answered[got]++
	}
	var from []string
	for n := range answered {
		from = append(from, n)
	}
	sort.Strings(from)
	if len(answered) < len(nodes) {
		why := ""
		if last != nil {
			why = "; last error: " + last.Error()
		}
		return "", fmt.Errorf("the Service spread (%s) answered from %d of %d nodes (%s) in %d requests%s",
			ip, len(answered), len(nodes), strings.Join(from, ", "), requests, why)
	}
	return fmt.Sprintf("%d nodes, a pod on each (%s); pod to pod across nodes, source address kept: %s; Service spread (%s) answered from every node in %d requests from a pod on %s",
		len(nodes), strings.Join(placed, ", "), strings.Join(hops, ", "), ip, requests, strings.TrimSpace(clientNode)), nil
}
