package reports

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters/launch"
	"github.com/kprobe/kprobe/adapters/supervise"
	"github.com/kprobe/kprobe/profiles"
)

func TestWriteStatus(t *testing.T) {
	var b bytes.Buffer
	WriteStatus(&b, "/tmp/d", &launch.Status{})
	if got := b.String(); got != "no cluster was launched from /tmp/d\n" {
		t.Errorf("nothing launched: %q", got)
	}
	b.Reset()
	WriteStatus(&b, "/tmp/d", &launch.Status{Engine: "kubernetes", Running: true, Endpoint: "https://127.0.0.1:6443",
		APIReady: true, Kubeconfig: "/tmp/d/admin.conf", Processes: []supervise.ProcessState{{Name: "etcd", PID: 42, Status: "running", Restarts: 2}}})
	for _, want := range []string{"cluster (kubernetes engine) from /tmp/d: running", "etcd", "2 restarts", "API https://127.0.0.1:6443 ready=true", "export KUBECONFIG=/tmp/d/admin.conf"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("running status lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	WriteStatus(&b, "/tmp/d", &launch.Status{Engine: "k3s", Phase: "failed", Problem: "k3s exited"})
	if got := b.String(); !strings.Contains(got, "not running (phase failed)") || !strings.Contains(got, "problem: k3s exited") || strings.Contains(got, "export") {
		t.Errorf("stopped status: %q", got)
	}
}

func TestWriteLaunchResult(t *testing.T) {
	var b bytes.Buffer
	WriteLaunchResult(&b, &launch.Result{Rung: string(profiles.T3), Phases: []launch.Phase{{Name: "api", Done: true, AtMS: 4200}}})
	if got := b.String(); !strings.Contains(got, "control plane ready 4.2s after start (T3: no node, no pods") {
		t.Errorf("T3 result: %q", got)
	}
	b.Reset()
	WriteLaunchResult(&b, &launch.Result{Rung: string(profiles.T0), Phases: []launch.Phase{{Name: "api", Done: true, AtMS: 4000},
		{Name: "node", Done: true, AtMS: 9000}, {Name: "pod", Done: true, AtMS: 15000}, {Name: "addons", Done: true, Detail: "skipped: --no-addons"}}})
	if got := b.String(); !strings.Contains(got, "ready: API 4.0s, node Ready 9.0s, first pod Running 15.0s") || !strings.Contains(got, "no cluster DNS and storage add-ons: --no-addons") {
		t.Errorf("T0 result: %q", got)
	}
}
