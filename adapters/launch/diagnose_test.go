package launch

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kprobe/kprobe/adapters/upstream"
)

// TestDiagnoseOneControlPlaneLog: the log of kube-control-plane (the API
// server, controller manager and scheduler in one process) is read with
// the API server's signatures.
func TestDiagnoseOneControlPlaneLog(t *testing.T) {
	dir := t.TempDir()
	line := `E1128 15:19:25.000000    3333 run.go:72] "command failed" err="failed to create listener: failed to listen on 0.0.0.0:6443: listen tcp 0.0.0.0:6443: bind: address already in use"` + "\n"
	if err := os.WriteFile(filepath.Join(dir, upstream.ControlPlaneProcessName+".log"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	d := DiagnoseLogs(dir)
	if d == nil || d.Code != "SIG-PORT-IN-USE" {
		t.Fatalf("diagnosis %+v, want SIG-PORT-IN-USE", d)
	}
}
