package verify

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// TestSimulatedPlacement: the check's Deployment and the chart, given the
// check's values, ask for the simulated nodes and tolerate their taint.
func TestSimulatedPlacement(t *testing.T) {
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(simWebManifest("ns1")), &d); err != nil {
		t.Fatalf("the manifest does not parse: %v\n%s", err, simWebManifest("ns1"))
	}
	spec := d.Spec.Template.Spec
	if d.Namespace != "ns1" || *d.Spec.Replicas != 2 || spec.NodeSelector[simulatedKey] != "true" ||
		len(spec.Tolerations) != 1 || spec.Tolerations[0].Key != simulatedKey || len(spec.Containers) != 1 {
		t.Fatalf("deployment %+v", d)
	}
	helm := findTool("helm")
	if helm == "" {
		if p, err := filepath.Abs("../../bin/engine/helm"); err == nil {
			if _, err := os.Stat(p); err == nil {
				helm = p
			}
		}
	}
	if helm == "" {
		t.Skip("helm is not built: `make engine`")
	}
	dir, err := writeChart()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	values := filepath.Join(dir, "simulated-values.yaml")
	if err := os.WriteFile(values, []byte(simulatedPlacement), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(helm, "template", simulatedRelease, dir, "-f", values, "--show-only", "templates/deployment.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	d = appsv1.Deployment{}
	if err := yaml.UnmarshalStrict(out, &d); err != nil {
		t.Fatalf("rendered chart: %v\n%s", err, out)
	}
	spec = d.Spec.Template.Spec
	if spec.NodeSelector[simulatedKey] != "true" || len(spec.Tolerations) != 1 || spec.Tolerations[0].Key != simulatedKey {
		t.Fatalf("the chart ignores the placement:\n%s", out)
	}
	// Without the values the chart places nothing.
	out, err = exec.Command(helm, "template", "kprobe-hello", dir, "--show-only", "templates/deployment.yaml").CombinedOutput()
	if err != nil || strings.Contains(string(out), "nodeSelector") || strings.Contains(string(out), "tolerations") {
		t.Fatalf("helm template without values: %v\n%s", err, out)
	}
}
