package hoststate

import (
	"reflect"
	"testing"
)

func TestSplitRule(t *testing.T) {
	// A rule exactly as the bridge CNI plugin leaves it and iptables -S prints it.
	line := `-A POSTROUTING -s 10.244.0.2/32 -m comment --comment "name: \"kprobe\" id: \"f051b779\"" -j CNI-2ed4377956d0f6cc2d69d797`
	want := []string{"-A", "POSTROUTING", "-s", "10.244.0.2/32", "-m", "comment", "--comment",
		`name: "kprobe" id: "f051b779"`, "-j", "CNI-2ed4377956d0f6cc2d69d797"}
	if got := splitRule(line); !reflect.DeepEqual(got, want) {
		t.Fatalf("splitRule:\n got %q\nwant %q", got, want)
	}
	if got := splitRule(`-A X --comment "" -j Y`); !reflect.DeepEqual(got, []string{"-A", "X", "--comment", "", "-j", "Y"}) {
		t.Fatalf("empty quoted argument lost: %q", got)
	}
}

func TestOursOnlyTouchesClusterPaths(t *testing.T) {
	sc := Scope{DataDir: "/var/lib/kprobe", Bridge: "kprobe0"}
	for m, want := range map[string]bool{
		"/var/lib/kprobe/kubelet/root": true, "/var/lib/kprobe": true, "/var/lib/kprobe2/x": false,
		"/run/netns/cni-1": true, "/run/containerd/io.containerd.runtime.v2.task/k8s.io/x/rootfs": true,
		"/home": false, "/run/kprobe-0a1b2c3d": true, "/var/lib/kubelet/pods/x": true, "/": false,
	} {
		if ours(m, sc) != want {
			t.Errorf("ours(%q) = %v", m, !want)
		}
	}
}

func TestClusterChain(t *testing.T) {
	for c, want := range map[string]bool{"KUBE-SERVICES": true, "CNI-2ed4": true, "DOCKER": false, "INPUT": false, "MY-KUBE": false} {
		if clusterChain(c) != want {
			t.Errorf("clusterChain(%q) = %v", c, !want)
		}
	}
}
