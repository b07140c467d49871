package svcproxy

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptr[T any](v T) *T { return &v }

func slice(svc string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: svc + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: ports, Endpoints: eps,
	}
}

func ep(ip string, ready, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: ptr(ready || terminating), Terminating: &terminating}}
}

func TestTable(t *testing.T) {
	pods := netip.MustParsePrefix("10.244.0.0/24")
	svcs := []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeNodePort, ClusterIP: "127.96.0.20",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), NodePort: 30080}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "dns"}, Spec: corev1.ServiceSpec{
			ClusterIP: "127.96.0.10",
			Ports:     []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}, {Name: "alt", Port: 5353, Protocol: corev1.ProtocolUDP}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "api"}, Spec: corev1.ServiceSpec{
			ClusterIP: "127.96.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "headless"}, Spec: corev1.ServiceSpec{
			ClusterIP: "None", Ports: []corev1.ServicePort{{Port: 80}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "empty"}, Spec: corev1.ServiceSpec{
			ClusterIP: "127.96.0.30", Ports: []corev1.ServicePort{{Port: 80}}}},
	}
	udp := corev1.ProtocolUDP
	slices := []*discoveryv1.EndpointSlice{
		// The named targetPort resolved per endpoint by the slice controller.
		slice("web", []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
			ep("10.244.0.5", true, false), ep("10.244.0.6", false, false), ep("10.244.0.7", false, true)),
		slice("dns", []discoveryv1.EndpointPort{{Name: ptr("dns"), Port: ptr(int32(53)), Protocol: &udp}, {Name: ptr("alt"), Port: ptr(int32(53)), Protocol: &udp}},
			ep("10.244.0.9", true, false)),
		slice("api", []discoveryv1.EndpointPort{{Name: ptr("https"), Port: ptr(int32(6443))}}, ep("192.0.2.2", true, false)),
		slice("empty", []discoveryv1.EndpointPort{{Port: ptr(int32(80))}}, ep("10.244.0.8", false, false)),
	}
	got := Table(svcs, slices, Addresses{PodCIDR: pods, NodePorts: netip.IPv4Unspecified()})
	web := Route{Service: "ns/web:http", Backends: []string{"127.244.0.5:8080"}}
	want := map[Key]Route{
		{netip.MustParseAddrPort("127.96.0.20:80"), corev1.ProtocolTCP}: web,
		{netip.MustParseAddrPort("0.0.0.0:30080"), corev1.ProtocolTCP}:  web,
		// dns:53 -> 53 is served by the pod itself (direct); alt is not.
		{netip.MustParseAddrPort("127.96.0.10:5353"), corev1.ProtocolUDP}: {Service: "ns/dns:alt", Backends: []string{"127.244.0.9:53"}},
		// Not a pod: dialled as it is.
		{netip.MustParseAddrPort("127.96.0.1:443"), corev1.ProtocolTCP}: {Service: "ns/api:https", Backends: []string{"192.0.2.2:6443"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Table:\n got %v\nwant %v", got, want)
	}

	// Pods that bind their own address (bindtrace) do not answer on the
	// ClusterIP: dns:53 gets a listener too.
	got = Table(svcs, slices, Addresses{PodCIDR: pods, NodePorts: netip.IPv4Unspecified(), OwnBinds: true})
	if r, ok := got[Key{netip.MustParseAddrPort("127.96.0.10:53"), corev1.ProtocolUDP}]; !ok || !reflect.DeepEqual(r.Backends, []string{"127.244.0.9:53"}) || len(got) != len(want)+1 {
		t.Fatalf("OwnBinds: dns:53 -> %v (table %v)", r, got)
	}

	// Where nobody may listen below 1024: ClusterIP ports moved by the
	// offset, ports from 1024 and NodePorts as they are.
	got = Table(svcs, slices, Addresses{PodCIDR: pods, NodePorts: netip.IPv4Unspecified(), OwnBinds: true, LowPortOffset: PrivilegedPortOffset})
	for _, k := range []string{"127.96.0.10:64565/UDP", "127.96.0.10:5353/UDP", "127.96.0.20:64592/TCP", "0.0.0.0:30080/TCP", "127.96.0.1:64955/TCP"} {
		ap, proto, _ := strings.Cut(k, "/")
		if _, ok := got[Key{netip.MustParseAddrPort(ap), corev1.Protocol(proto)}]; !ok {
			t.Errorf("LowPortOffset: no listener on %s (table %v)", k, got)
		}
	}
	if len(got) != len(want)+1 {
		t.Errorf("LowPortOffset: %d listeners, want %d: %v", len(got), len(want)+1, got)
	}

	// No ready endpoint: the serving terminating ones, as kube-proxy.
	slices[0] = slice("web", slices[0].Ports, ep("10.244.0.7", false, true))
	got = Table(svcs[:1], slices[:1], Addresses{PodCIDR: pods})
	if r := got[Key{netip.MustParseAddrPort("127.96.0.20:80"), corev1.ProtocolTCP}]; !reflect.DeepEqual(r.Backends, []string{"127.244.0.7:8080"}) || len(got) != 1 {
		t.Fatalf("terminating fallback, no NodePort address: %v", got)
	}

	// The API server where it listens, not where it advertises.
	kube := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes"}, Spec: corev1.ServiceSpec{
		ClusterIP: "127.96.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}}
	got = Table([]*corev1.Service{kube}, nil, Addresses{APIServer: netip.MustParseAddrPort("127.0.0.1:6443")})
	if r := got[Key{netip.MustParseAddrPort("127.96.0.1:443"), corev1.ProtocolTCP}]; !reflect.DeepEqual(r.Backends, []string{"127.0.0.1:6443"}) {
		t.Fatalf("kubernetes: %v", got)
	}
}

func TestMirror(t *testing.T) {
	for in, want := range map[string]string{"10.244.0.7": "127.244.0.7", "127.0.0.1": "127.0.0.1", "192.168.3.4": "127.168.3.4", "::1": "::1"} {
		if got := Mirror(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("Mirror(%s) = %s, want %s", in, got, want)
		}
	}
}
