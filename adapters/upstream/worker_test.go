package upstream

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/kprobe/kprobe/probes/probetest"
)

func testWorker(i int) Worker {
	d := NodeDataDir("/var/lib/kprobe", i)
	return Worker{Index: i, Certs: WorkerCerts{
		CA:                 "/var/lib/kprobe/pki/ca.crt",
		KubeletServingCert: d + "/pki/kubelet-serving.crt", KubeletServingKey: d + "/pki/kubelet-serving.key",
		KubeletKubeconfig: d + "/kubeconfigs/kubelet.conf", KubeProxyKubeconfig: d + "/kubeconfigs/kube-proxy.conf",
	}}
}

// TestRenderWorkerGolden pins worker 1's files and processes for the
// host's plan and a degraded one (no kube-proxy, native snapshotter).
func TestRenderWorkerGolden(t *testing.T) {
	for _, name := range []string{"host", "degraded"} {
		t.Run(name, func(t *testing.T) {
			r, err := RenderWorker(plans[name], testConfig(), testWorker(1))
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			paths := make([]string, 0, len(r.Files))
			for p := range r.Files {
				paths = append(paths, p)
			}
			sort.Strings(paths)
			for _, p := range paths {
				b.WriteString("=== " + p + "\n" + r.Files[p])
				var v map[string]any
				switch {
				case strings.HasSuffix(p, ".toml"):
					if _, err := toml.Decode(r.Files[p], &v); err != nil {
						t.Errorf("%s is not valid TOML: %v", p, err)
					}
				case strings.HasSuffix(p, ".conflist"):
					if err := json.Unmarshal([]byte(r.Files[p]), &v); err != nil {
						t.Errorf("%s is not valid JSON: %v", p, err)
					}
				}
			}
			procs, _ := json.MarshalIndent(map[string]any{"early": r.Early, "late": r.Late}, "", "  ")
			b.WriteString("=== processes\n" + string(procs) + "\n")
			probetest.Golden(t, filepath.Join("testdata", "worker-"+name+".golden"), []byte(b.String()), *update,
				"go test ./adapters/upstream -update")
		})
	}
}

// TestRenderWorkerIsolation checks what keeps a worker apart from node 0
// and from the other workers.
func TestRenderWorkerIsolation(t *testing.T) {
	node0, err := Render(plans["host"], testConfig())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for path := range node0.Files {
		seen[path] = "node 0"
	}
	for _, i := range []int{1, 2} {
		r, err := RenderWorker(plans["host"], testConfig(), testWorker(i))
		if err != nil {
			t.Fatal(err)
		}
		for path := range r.Files {
			if who, ok := seen[path]; ok {
				t.Errorf("worker %d writes %s, which %s writes too", i, path, who)
			}
			seen[path] = r.Name
		}
		if r.Socket == node0.Socket {
			t.Errorf("worker %d shares node 0's containerd socket", i)
		}
		kubelet := r.Files[filepath.Join(NodeDataDir("/var/lib/kprobe", i), "kubelet", "config.yaml")]
		for _, want := range []string{"cgroupRoot: /kprobe-node-" + strconv.Itoa(i) + "\n", "address: " + NodeAddress(i) + "\n", ImagesPendingTaint} {
			if !strings.Contains(kubelet, want) {
				t.Errorf("worker %d's kubelet config lacks %q:\n%s", i, want, kubelet)
			}
		}
		if cni := r.Files[filepath.Join(NodeDataDir("/var/lib/kprobe", i), "cni", "net.d", "10-kprobe.conflist")]; !strings.Contains(cni, NodePodCIDR(i)) {
			t.Errorf("worker %d's CNI config lacks its pod range %s", i, NodePodCIDR(i))
		}
		holder := r.Early[0]
		for _, p := range append(r.Early[1:], r.Late...) {
			if p.JoinNamespacesOf != holder.Name {
				t.Errorf("worker %d: %s runs outside the node's namespaces", i, p.Name)
			}
		}
		for _, d := range PrivateDirs {
			if !strings.Contains(holder.Args[len(holder.Args)-1], "mount -t tmpfs -o mode=0755,size=64m "+r.Name+" "+d+"\n") {
				t.Errorf("worker %d's namespace holder does not make %s private", i, d)
			}
		}
	}
}

func TestNodeAddressPlan(t *testing.T) {
	for i, want := range map[int][3]string{
		0:  {"kprobe-node", "10.246.0.1", "10.244.0.0/24"},
		1:  {"kprobe-node-1", "10.246.0.2", "10.244.1.0/24"},
		15: {"kprobe-node-15", "10.246.0.16", "10.244.15.0/24"},
	} {
		if got := [3]string{NodeName(i), NodeAddress(i), NodePodCIDR(i)}; got != want {
			t.Errorf("node %d: %v, want %v", i, got, want)
		}
	}
	if NodePodCIDR(0) != DefaultPodCIDR {
		t.Errorf("node 0's pod range %s is not the single node's %s", NodePodCIDR(0), DefaultPodCIDR)
	}
	if _, err := RenderWorker(plans["control-plane"], testConfig(), testWorker(1)); err == nil {
		t.Error("a worker was rendered for a plan without kubelet")
	}
	for _, i := range []int{0, MaxNodes} {
		if _, err := RenderWorker(plans["host"], testConfig(), testWorker(i)); err == nil {
			t.Errorf("worker index %d was accepted", i)
		}
	}
}
