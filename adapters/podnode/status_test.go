package podnode

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func running() corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func exited(code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func crashLooping() corev1.ContainerStatus {
	return corev1.ContainerStatus{
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}},
	}
}

func creating() corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
}

// TestPhaseAsTheKubelet checks the pod phase for the container states the
// kubelet's getPhase distinguishes.
func TestPhaseAsTheKubelet(t *testing.T) {
	tests := []struct {
		name     string
		policy   corev1.RestartPolicy
		initDone bool
		inits    []corev1.ContainerStatus
		ctrs     []corev1.ContainerStatus
		want     corev1.PodPhase
	}{
		{"initialising", corev1.RestartPolicyAlways, false, []corev1.ContainerStatus{running()}, []corev1.ContainerStatus{creating()}, corev1.PodPending},
		{"init failed, never restarted", corev1.RestartPolicyNever, false, []corev1.ContainerStatus{exited(1)}, []corev1.ContainerStatus{creating()}, corev1.PodFailed},
		{"creating", corev1.RestartPolicyAlways, true, nil, []corev1.ContainerStatus{creating()}, corev1.PodPending},
		{"running", corev1.RestartPolicyAlways, true, nil, []corev1.ContainerStatus{running(), running()}, corev1.PodRunning},
		{"crash loop is running", corev1.RestartPolicyAlways, true, nil, []corev1.ContainerStatus{crashLooping()}, corev1.PodRunning},
		{"all succeeded", corev1.RestartPolicyNever, true, nil, []corev1.ContainerStatus{exited(0), exited(0)}, corev1.PodSucceeded},
		{"one failed, never", corev1.RestartPolicyNever, true, nil, []corev1.ContainerStatus{exited(0), exited(2)}, corev1.PodFailed},
		{"succeeded on failure policy", corev1.RestartPolicyOnFailure, true, nil, []corev1.ContainerStatus{exited(0)}, corev1.PodSucceeded},
		{"exited under Always", corev1.RestartPolicyAlways, true, nil, []corev1.ContainerStatus{exited(0)}, corev1.PodRunning},
	}
	for _, tt := range tests {
		if got := phase(tt.policy, tt.initDone, tt.inits, tt.ctrs); got != tt.want {
			t.Errorf("%s: phase %s, want %s", tt.name, got, tt.want)
		}
	}
}
