package verify

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The simulated-nodes check (issue 7): where `kprobe launch
// --simulate-nodes N` registered kwok nodes, a Deployment and a Helm
// release are scheduled onto them and kwok reports their pods Running.
// No container runs there: the evidence says so.

// simulatedKey is the label of a simulated node, and the key of the taint
// they carry beside a real node (adapters/launch/kwok.go).
const simulatedKey = "kprobe.dev/simulated"

// simulatedPlacement pins a pod to the simulated nodes (and tolerates
// their taint, which they carry only where a real node runs pods).
const simulatedPlacement = `nodeSelector: {"kprobe.dev/simulated": "true"}
tolerations: [{key: kprobe.dev/simulated, operator: Exists, effect: NoSchedule}]
`

func simWebManifest(ns string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: sim-web, namespace: %s}
spec:
  replicas: 2
  selector: {matchLabels: {app: sim-web}}
  template:
    metadata: {labels: {app: sim-web}}
    spec:
      terminationGracePeriodSeconds: 0
%s      containers:
      - name: web
        image: docker.io/library/busybox:1.35
        imagePullPolicy: Never
        command: ["sleep", "3600"]
`, ns, indent(simulatedPlacement, "      "))
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// simulatedRelease is the Helm release the check installs.
const simulatedRelease = "kprobe-sim-hello"

// checkSimulated deploys 2 replicas onto the simulated nodes, then
// installs the test chart there with --wait, and checks that every pod
// is bound to a simulated node and that kwok reports it Running.
func (r *runner) checkSimulated(chartDir string) (string, error) {
	ns := r.o.Namespace
	if _, err := r.kubectl(simWebManifest(ns), "apply", "-f", "-"); err != nil {
		return "", err
	}
	if _, err := r.kubectl("", "-n", ns, "rollout", "status", "deployment/sim-web", "--timeout=60s"); err != nil {
		return "", err
	}
	web, err := r.simulatedPods("app=sim-web", 2)
	if err != nil {
		return "", fmt.Errorf("deployment sim-web: %w", err)
	}
	values := filepath.Join(chartDir, "simulated-values.yaml")
	if err := os.WriteFile(values, []byte(simulatedPlacement), 0o644); err != nil {
		return "", err
	}
	out, err := r.helm("install", simulatedRelease, chartDir, "-n", ns, "-f", values, "--wait", "--timeout", "60s")
	if err != nil {
		return "", err
	}
	chart, err := r.simulatedPods("app.kubernetes.io/instance="+simulatedRelease, 1)
	if err != nil {
		return "", fmt.Errorf("helm release %s: %w", simulatedRelease, err)
	}
	return fmt.Sprintf("SIMULATED, no container ran: deployment sim-web 2/2 pods bound (%s) and reported Running by kwok; helm install %s --wait %s, pod bound (%s) and reported Running by kwok",
		web, simulatedRelease, strings.TrimSpace(grep(out, "STATUS")), chart), nil
}

// simulatedPods checks that want pods match selector, each bound to one
// of the launch's simulated nodes with phase Running and Ready, and
// returns them as pod->node.
func (r *runner) simulatedPods(selector string, want int) (string, error) {
	out, err := r.kubectl("", "-n", r.o.Namespace, "get", "pods", "-l", selector, "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	if err != nil {
		return "", err
	}
	var bound []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) < 4 {
			return "", fmt.Errorf("pod %s is not bound and Running yet: %q", f[0], l)
		}
		pod, node, phase, ready := f[0], f[1], f[2], f[3]
		if !slices.Contains(r.o.SimulatedNodes, node) {
			return "", fmt.Errorf("pod %s is bound to %s, not to a simulated node (%s)", pod, node, strings.Join(r.o.SimulatedNodes, ", "))
		}
		if phase != "Running" || ready != "True" {
			return "", fmt.Errorf("pod %s on %s is %s (Ready %s), not Running", pod, node, phase, ready)
		}
		bound = append(bound, pod+" -> "+node)
	}
	if len(bound) != want {
		return "", fmt.Errorf("%d pods match %s, want %d: %s", len(bound), selector, want, strings.TrimSpace(out))
	}
	return strings.Join(bound, ", "), nil
}
