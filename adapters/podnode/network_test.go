package podnode

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestResolvConf(t *testing.T) {
	host := []byte("# sandbox\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n")
	pod := func(p corev1.DNSPolicy, dc *corev1.PodDNSConfig) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}, Spec: corev1.PodSpec{DNSPolicy: p, DNSConfig: dc}}
	}
	two := "2"
	for _, c := range []struct {
		name string
		pod  *corev1.Pod
		dns  string
		want string
	}{
		{"cluster first", pod("", nil), "127.96.0.10",
			"search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 127.96.0.10\noptions ndots:5\n"},
		{"no cluster DNS", pod(corev1.DNSClusterFirst, nil), "",
			"search corp.example\nnameserver 192.0.2.53\noptions edns0\n"},
		{"default", pod(corev1.DNSDefault, nil), "127.96.0.10",
			"search corp.example\nnameserver 192.0.2.53\noptions edns0\n"},
		{"none", pod(corev1.DNSNone, &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"}}), "127.96.0.10",
			"search a.example\nnameserver 1.1.1.1\n"},
		{"merged config", pod("", &corev1.PodDNSConfig{Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &two}, {Name: "single-request"}}}), "127.96.0.10",
			"search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 127.96.0.10\noptions ndots:2 single-request\n"},
	} {
		if got := string(resolvConf(c.pod, host, c.dns, "cluster.local")); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
	hn := pod("", nil)
	hn.Spec.HostNetwork = true
	if got := string(resolvConf(hn, host, "127.96.0.10", "cluster.local")); got != "search corp.example\nnameserver 192.0.2.53\noptions edns0\n" {
		t.Errorf("hostNetwork ClusterFirst is Default: %q", got)
	}
}

func TestPodAddrs(t *testing.T) {
	a, err := newPodAddrs("10.244.0.0/30") // .2 and .3 are free
	if err != nil {
		t.Fatal(err)
	}
	x, y := a.get(types.UID("x")), a.get(types.UID("y"))
	if x.String() != "10.244.0.2" || y.String() != "10.244.0.3" || a.get("x") != x {
		t.Fatalf("got %v %v", x, y)
	}
	if z := a.get("z"); z.IsValid() {
		t.Fatalf("a full range gave %v", z)
	}
	a.release("x")
	if z := a.get("z"); z != x {
		t.Fatalf("released address not reused: %v", z)
	}
	if _, err := newPodAddrs("10.244.0.0/31"); err == nil {
		t.Fatal("a /31 accepted")
	}
}

func TestLoopbackServices(t *testing.T) {
	got := loopbackServices("https://127.0.0.1:6443", []byte("nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch x\n"))
	want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:6443"), netip.MustParseAddrPort("127.0.0.53:53")}
	if !slices.Equal(got, want) {
		t.Errorf("loopbackServices = %v, want %v", got, want)
	}
	if got := loopbackServices("https://192.0.2.2:6443", nil); len(got) != 0 {
		t.Errorf("an API server off loopback is no exception: %v", got)
	}
}
