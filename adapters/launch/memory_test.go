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

func TestMemoryLine(t *testing.T) {
	got := MemoryLine([]ProcessRSS{{"supervisor", 1, 38 << 10}, {"etcd", 2, 57 << 10}, {"kube-apiserver", 3, 290 << 10}})
	if want := "memory (RSS, MiB) 385: kube-apiserver 290, etcd 57, supervisor 38"; got != want {
		t.Errorf("MemoryLine = %q, want %q", got, want)
	}
	if MemoryLine(nil) != "" {
		t.Error("no processes, no line")
	}
}
