package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kprobe/kprobe/adapters/launch"
)

// BenchmarkProcessPods measures rung TP on this host (issue 13's goals):
// one launch --rung TP, then per iteration a pod of a warm image (busybox,
// preloaded by the node agent) created and watched until Running
// (ns/op; goal ≤ 2 s), and deleted. Reported once: node-ready-s, the
// node Ready after the API server is ready (the agent registers at once),
// and cluster-MB, the resident memory of the control plane and the node
// agent (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// kprobe-node-agent, the supervisor; goal ≤ 450 MB), and each program's
// share as NAME-MB.
//
//	sudo KPROBE_E2E=1 go test ./test/e2e -run '^$' -bench ProcessPods -benchtime 10x
func BenchmarkProcessPods(b *testing.B) {
	bin := benchKprobe(b)
	dataDir := filepath.Join(b.TempDir(), "cluster")
	defer func() { _, _ = exec.Command(bin, "stop", "--purge", "--data-dir", dataDir).CombinedOutput() }()
	out, err := exec.Command(bin, "launch", "--rung", "TP", "--data-dir", dataDir, "--output", "json").Output()
	var res launch.Result
	if err != nil || json.Unmarshal(out, &res) != nil || !res.Ready {
		b.Fatalf("launch --rung TP: %v: %s", err, out)
	}
	api, _ := res.Timing("api")
	node, _ := res.Timing("node")

	cfg, err := clientcmd.BuildConfigFromFlags("", res.Kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	zero := int64(0)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "bench-" + strconv.Itoa(i), Namespace: "default"},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: &zero,
				Containers: []corev1.Container{{
					Name: "c", Image: launch.BusyboxImage, ImagePullPolicy: corev1.PullNever,
					Command: []string{"sleep", "3600"},
				}},
			},
		}
		b.StartTimer()
		if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		// Polled every 10 ms: a watch adds nothing but a stream to keep.
		deadline := time.Now().Add(60 * time.Second)
		for {
			p, err := cs.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{})
			if err == nil && p.Status.Phase == corev1.PodRunning {
				break
			}
			if time.Now().After(deadline) {
				ev, _ := exec.Command("kubectl", "--kubeconfig", res.Kubeconfig, "describe", "pod", pod.Name).CombinedOutput()
				b.Fatalf("pod %s not Running after 60 s (%v):\n%s", pod.Name, err, ev)
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.StopTimer()
		_ = cs.CoreV1().Pods("default").Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric((node-api)/1000, "node-ready-s")
	var total int64
	for name, rss := range clusterRSS(dataDir) {
		total += rss
		b.ReportMetric(float64(rss)/(1<<20), name+"-MB")
	}
	b.ReportMetric(float64(total)/(1<<20), "cluster-MB")
}

// clusterRSS is VmRSS of the cluster's own processes (not its pods),
// those whose command line names the data dir, summed by program name
// (kprobe is the supervisor).
func clusterRSS(dataDir string) map[string]int64 {
	total := map[string]int64{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if !strings.Contains(string(cmd), dataDir) {
			continue
		}
		name := filepath.Base(strings.SplitN(string(cmd), "\x00", 2)[0])
		status, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				total[name] += kb << 10
			}
		}
	}
	return total
}
