package hoststate

import "testing"

// TestNodesNamesAreOurs checks that stop's undo takes the multi-node
// launch's links, namespaces and chains, and nothing of the host's.
func TestNodesNamesAreOurs(t *testing.T) {
	sc := Scope{DataDir: "/var/lib/kprobe", Bridge: "kprobe0"}
	for l, want := range map[string]bool{
		"kprobe0": true, "kprobe-nodes": true, "kprobe-veth1": true, "kprobe-veth12": true, "veth1a2b3c": true,
		"kprobe-dummy0": true, "eth0": false, "docker0": false, "kprobe1": false, "br-kprobe": false,
	} {
		if ourLink(l, sc) != want {
			t.Errorf("ourLink(%q) = %v", l, !want)
		}
	}
	for n, want := range map[string]bool{"cni-1234": true, "kprobe-node-1": true, "kprobe-node": false, "myns": false} {
		if ourNetns(n) != want {
			t.Errorf("ourNetns(%q) = %v", n, !want)
		}
	}
	for c, want := range map[string]bool{"KPROBE-NODES": true, "KPROBE-FORWARD": true, "KPROBE": false} {
		if clusterChain(c) != want {
			t.Errorf("clusterChain(%q) = %v", c, !want)
		}
	}
}
