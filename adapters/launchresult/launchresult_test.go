package launchresult

import "testing"

func TestMemoryLine(t *testing.T) {
	got := MemoryLine([]ProcessRSS{{"supervisor", 1, 38 << 10}, {"etcd", 2, 57 << 10}, {"kube-apiserver", 3, 290 << 10}})
	if want := "memory (RSS, MiB) 385: kube-apiserver 290, etcd 57, supervisor 38"; got != want {
		t.Errorf("MemoryLine = %q, want %q", got, want)
	}
	if MemoryLine(nil) != "" {
		t.Error("no processes, no line")
	}
}
