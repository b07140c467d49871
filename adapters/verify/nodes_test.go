package verify

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestSpreadManifest: a DaemonSet on every real node (the simulated ones
// left out), a Service over it and a client pod, in the check's namespace.
func TestSpreadManifest(t *testing.T) {
	docs := strings.Split(spreadManifest("ns1"), "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3", len(docs))
	}
	var ds appsv1.DaemonSet
	var svc corev1.Service
	var pod corev1.Pod
	for i, into := range []any{&ds, &svc, &pod} {
		if err := yaml.UnmarshalStrict([]byte(docs[i]), into); err != nil {
			t.Fatalf("document %d does not parse: %v\n%s", i, err, docs[i])
		}
	}
	if ds.Kind != "DaemonSet" || svc.Kind != "Service" || pod.Kind != "Pod" || ds.Namespace != "ns1" || svc.Namespace != "ns1" || pod.Namespace != "ns1" {
		t.Fatalf("kinds %s %s %s in %s %s %s", ds.Kind, svc.Kind, pod.Kind, ds.Namespace, svc.Namespace, pod.Namespace)
	}
	terms := ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || terms[0].MatchExpressions[0].Key != simulatedKey || terms[0].MatchExpressions[0].Operator != corev1.NodeSelectorOpDoesNotExist {
		t.Errorf("the DaemonSet does not keep off the simulated nodes: %+v", terms)
	}
	if svc.Spec.Selector["app"] != "spread" || ds.Spec.Template.Labels["app"] != "spread" {
		t.Error("the Service does not select the DaemonSet's pods")
	}
	script := ds.Spec.Template.Spec.Containers[0].Command[2]
	if !strings.Contains(script, "spread-from-%s client=$REMOTE_ADDR") || !strings.Contains(script, "httpd -f -p 8080") {
		t.Errorf("the pods' script:\n%s", script)
	}
}
