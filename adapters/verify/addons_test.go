package verify

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// nslookupOutput is what Debian's static busybox 1.35 nslookup printed for
// a short name in a pod of the namespace default: one answer among the
// failures of the other search domains, and exit code 1.
const nslookupOutput = `Server:		10.96.0.10
Address:	10.96.0.10:53

** server can't find kubernetes.cluster.local: NXDOMAIN

Name:	kubernetes.default.svc.cluster.local
Address: 10.96.0.1

** server can't find kubernetes.svc.cluster.local: NXDOMAIN
`

func TestNslookupAnswer(t *testing.T) {
	m := nslookupAnswer.FindAllStringSubmatch(nslookupOutput, -1)
	if len(m) != 1 || m[0][1] != "kubernetes.default.svc.cluster.local" || m[0][2] != "10.96.0.1" {
		t.Fatalf("answers %q", m)
	}
}

// TestStorageManifest: a claim without a class (the default StorageClass
// provisions it) and a pod of the namespace that mounts it.
func TestStorageManifest(t *testing.T) {
	docs := strings.Split(storageManifest("ns1"), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%d documents", len(docs))
	}
	var pvc, pod struct {
		APIVersion string
		Kind       string
		Metadata   struct{ Name, Namespace string }
		Spec       map[string]any
	}
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &pvc); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &pod); err != nil {
		t.Fatal(err)
	}
	if pvc.Kind != "PersistentVolumeClaim" || pvc.Metadata.Namespace != "ns1" || pvc.Spec["storageClassName"] != nil {
		t.Errorf("claim %+v", pvc)
	}
	if pod.Kind != "Pod" || pod.Metadata.Namespace != "ns1" || !strings.Contains(docs[1], "claimName: data") {
		t.Errorf("pod %+v", pod)
	}
}
