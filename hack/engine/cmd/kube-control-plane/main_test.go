package main

import (
	"reflect"
	"testing"
)

func TestParseSections(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want []Section
	}{
		{[]string{"kube-apiserver", "--a=1", "--b"}, []Section{{APIServer, []string{"--a=1", "--b"}}}},
		{[]string{"kube-apiserver", "--", "kube-scheduler", "--s"}, []Section{{APIServer, []string{}}, {Scheduler, []string{"--s"}}}},
		// Started in the order API server, controller manager, scheduler
		// whatever the order given.
		{
			[]string{"kube-scheduler", "--s", "--", "kube-controller-manager", "--c=x", "--", "kube-apiserver", "--a"},
			[]Section{{APIServer, []string{"--a"}}, {ControllerManager, []string{"--c=x"}}, {Scheduler, []string{"--s"}}},
		},
		// The node's components start with the API server, before the two
		// that wait for it.
		{
			[]string{"kube-scheduler", "--", "kube-proxy", "--p", "--", "kube-apiserver", "--", "kubelet", "--k"},
			[]Section{{APIServer, []string{}}, {Kubelet, []string{"--k"}}, {KubeProxy, []string{"--p"}}, {Scheduler, []string{}}},
		},
	} {
		got, err := ParseSections(tc.argv)
		if err != nil {
			t.Errorf("%q: %v", tc.argv, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.argv, got, tc.want)
		}
	}
}

func TestParseSectionsRefuses(t *testing.T) {
	for _, argv := range [][]string{
		nil,
		{"--secure-port=1"},              // no component named
		{"kube-apiserver", "--", "etcd"}, // not a component it runs
		{"kube-apiserver", "--a", "--", "kube-apiserver", "--b"}, // twice
		{"kube-apiserver", "--a", "--"},                          // trailing separator
	} {
		if got, err := ParseSections(argv); err == nil {
			t.Errorf("%q: got %q, want an error", argv, got)
		}
	}
}
