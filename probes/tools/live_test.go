package tools_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/tools"
)

func TestMain(m *testing.M) { probetest.Main(m) }

func TestLive(t *testing.T) {
	probetest.RequireRoot(t)
	r := probetest.Live(t, tools.Probe{})
	v := probetest.Live(t, tools.Versions{})
	if v.Error != "" || v.Mode != "active" {
		t.Fatalf("tools.versions: %s %s", v.Mode, v.Error)
	}
	r.Facts.Merge(v.Facts)
	t.Logf("tools: %s in %.1f ms, facts %v, findings %v", r.Status, r.DurationMS, r.Facts, r.Findings)
	if r.Error != "" {
		t.Fatal(r.Error)
	}
	var codes []string
	for _, f := range r.Findings {
		codes = append(codes, f.Code)
	}
	for _, tool := range tools.Tools {
		want, _ := exec.LookPath(tool.Name)
		got := r.Facts.String("tool." + tool.Name + ".path")
		// The probe also looks in the sbin dirs; PATH has them as root.
		if got != want {
			t.Errorf("tool.%s.path = %q, want %q", tool.Name, got, want)
		}
		if want == "" && r.Facts.String("tool."+tool.Name+".version") != "" {
			t.Errorf("absent %s has a version", tool.Name)
		}
	}
	// This VM has iptables 1.8.9 (nft) installed.
	if v := r.Facts.String("tool.iptables.version"); !strings.HasPrefix(v, "iptables v1.8") {
		t.Errorf("tool.iptables.version = %q", v)
	}
	// No k3s and no upstream components: an Info finding.
	if _, err := exec.LookPath("k3s"); err != nil && !slices.Contains(codes, tools.CodeNoEngine.Code) {
		t.Errorf("no %s without k3s: %v", tools.CodeNoEngine.Code, codes)
	}
	cniDir := r.Facts.String("tools.cni_dir")
	for _, d := range tools.CNIDirs {
		if out, err := exec.Command("sh", "-c", "ls -A /"+d+" 2>/dev/null | head -1").Output(); err == nil && len(out) > 0 {
			if cniDir != "/"+d {
				t.Errorf("tools.cni_dir = %q, want /%s", cniDir, d)
			}
			return
		}
	}
	if cniDir != "" || len(r.Facts.List("tools.cni_plugins")) != 0 {
		t.Errorf("CNI facts without plugins: %q %v", cniDir, r.Facts.List("tools.cni_plugins"))
	}
	if _, err := exec.LookPath("k3s"); err != nil && !slices.Contains(codes, tools.CodeNoCNI.Code) {
		t.Errorf("no %s without CNI plugins: %v", tools.CodeNoCNI.Code, codes)
	}
}
