package launch

import (
	"os"
	"runtime"
	"testing"
)

func TestResidentKiB(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	kib, ok := ResidentKiB(os.Getpid())
	if !ok || kib < 1024 {
		t.Fatalf("this test's own RSS: %d KiB, ok %v", kib, ok)
	}
	if _, ok := ResidentKiB(1 << 30); ok {
		t.Fatal("a pid that cannot exist has an RSS")
	}
	m := memory(os.Getpid(), []ProcessRSS{{Name: "gone", PID: 1 << 30}, {Name: "self", PID: os.Getpid()}})
	if len(m) != 2 || m[0].Name != "supervisor" || m[1].Name != "self" {
		t.Fatalf("memory of the live processes only: %+v", m)
	}
}
