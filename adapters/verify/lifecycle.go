package verify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The lifecycle checks of a process-pod node (TP): the node agent must
// keep the kubelet's restart back-off and readiness semantics, which a
// kubelet keeps by itself at T0-T2.

// crashManifest is a pod whose container fails on its first two runs and
// sleeps on its third: the attempt count lives in an emptyDir, which
// survives container restarts. The kubelet restarts a container at once
// after its first exit and shows CrashLoopBackOff (10 s) after the second.
func crashManifest(ns string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: crash, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  restartPolicy: Always
  containers:
  - name: crash
    image: docker.io/library/busybox:1.35
    imagePullPolicy: Never
    command: ["sh", "-c", "n=$(cat /state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/n; echo run $n; [ $n -ge 3 ] && exec sleep 3600; exit 3"]
    volumeMounts: [{name: state, mountPath: /state}]
  volumes:
  - name: state
    emptyDir: {}
`, ns)
}

// podState is what the lifecycle checks read of a pod's first container.
type podState struct {
	phase, waiting, ready, restarts, lastExit string
}

func (r *runner) podState(name string) (podState, error) {
	out, err := r.kubectl("", "-n", r.o.Namespace, "get", "pod", name, "-o",
		`jsonpath={.status.phase}|{.status.containerStatuses[0].state.waiting.reason}|{.status.containerStatuses[0].ready}|{.status.containerStatuses[0].restartCount}|{.status.containerStatuses[0].lastState.terminated.exitCode}`)
	f := strings.Split(out, "|")
	if err != nil || len(f) != 5 {
		return podState{}, fmt.Errorf("pod %s: %q: %v", name, out, err)
	}
	return podState{f[0], f[1], f[2], f[3], f[4]}, nil
}

// checkCrashRestart: the pod shows CrashLoopBackOff after its first exit,
// then runs and is Ready after the back-off, with restartCount >= 1 and
// the exit code of the crash as its last state.
func (r *runner) checkCrashRestart() (string, error) {
	if _, err := r.kubectl(crashManifest(r.o.Namespace), "apply", "-f", "-"); err != nil {
		return "", err
	}
	start := time.Now()
	var backoff time.Duration
	var st podState
	var err error
	for deadline := start.Add(100 * time.Second); time.Now().Before(deadline) && r.ctx.Err() == nil; time.Sleep(300 * time.Millisecond) {
		st, err = r.podState("crash")
		if err != nil {
			continue
		}
		if st.waiting == "CrashLoopBackOff" && backoff == 0 {
			backoff = time.Since(start)
		}
		if n, _ := strconv.Atoi(st.restarts); backoff > 0 && st.ready == "true" && n >= 2 {
			if st.lastExit != "3" {
				return "", fmt.Errorf("recovered after %d restarts, but the last state's exit code is %q, not the crash's 3", n, st.lastExit)
			}
			return fmt.Sprintf("CrashLoopBackOff %.1fs after apply, Running and Ready after %.1fs with %d restart(s), last exit code 3",
				backoff.Seconds(), time.Since(start).Seconds(), n), nil
		}
	}
	if backoff == 0 {
		return "", fmt.Errorf("the pod never showed CrashLoopBackOff (last: phase %s, waiting %q, restarts %s, last exit %q; %v)", st.phase, st.waiting, st.restarts, st.lastExit, err)
	}
	return "", fmt.Errorf("CrashLoopBackOff seen, but the pod did not recover (phase %s, waiting %q, ready %s, restarts %s)", st.phase, st.waiting, st.ready, st.restarts)
}

// readyManifest is a pod that becomes ready 4 s after it starts: its exec
// readiness probe looks for a file the container writes then.
func readyManifest(ns string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: ready, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: ready
    image: docker.io/library/busybox:1.35
    imagePullPolicy: Never
    command: ["sh", "-c", "rm -f /tmp/kprobe-ready; sleep 4; touch /tmp/kprobe-ready; exec sleep 3600"]
    readinessProbe:
      exec: {command: ["cat", "/tmp/kprobe-ready"]}
      periodSeconds: 1
`, ns)
}

// checkReadiness: the pod is Running and not Ready while its probe fails,
// then Ready once it passes.
func (r *runner) checkReadiness() (string, error) {
	if _, err := r.kubectl(readyManifest(r.o.Namespace), "apply", "-f", "-"); err != nil {
		return "", err
	}
	start := time.Now()
	var notReady time.Duration
	var st podState
	var err error
	for deadline := start.Add(60 * time.Second); time.Now().Before(deadline) && r.ctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
		st, err = r.podState("ready")
		if err != nil || st.phase != "Running" {
			continue
		}
		switch {
		case st.ready == "false" && notReady == 0:
			notReady = time.Since(start)
		case st.ready == "true" && notReady == 0:
			return "", fmt.Errorf("the pod was Ready before its readiness probe could pass")
		case st.ready == "true":
			return fmt.Sprintf("Running and not Ready at %.1fs, Ready at %.1fs once the exec probe passed", notReady.Seconds(), time.Since(start).Seconds()), nil
		}
	}
	return "", fmt.Errorf("the pod did not become Ready (phase %s, ready %s, seen not Ready: %v; %v)", st.phase, st.ready, notReady > 0, err)
}
