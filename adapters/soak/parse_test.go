package soak

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testdata/proc holds files captured on this project's machine during a
// soak: /proc/PID/status of the kube-apiserver, of a pod's busybox shell
// and of a kernel thread; a containerd shim's cmdline; a pod process's
// cgroup seen from the host (the cluster in the zoo's runc-privileged
// sandbox), from inside that sandbox's cgroup namespace, and a host
// shell's.
func read(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "proc", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseVmRSS(t *testing.T) {
	for name, want := range map[string]int64{
		"status-kube-apiserver.txt": 300880,
		"status-busybox-sh.txt":     1640,
	} {
		got, ok := parseVmRSS(read(t, name))
		if !ok || got != want {
			t.Errorf("%s: %d %v, want %d", name, got, ok, want)
		}
	}
	// A kernel thread has no VmRSS line.
	if got, ok := parseVmRSS(read(t, "status-kthreadd.txt")); ok {
		t.Errorf("kthreadd: %d, want none", got)
	}
	for _, bad := range []string{"", "VmRSS:\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n"} {
		if got, ok := parseVmRSS([]byte(bad)); ok {
			t.Errorf("%q parsed as %d", bad, got)
		}
	}
}

func TestShimAddress(t *testing.T) {
	addr, shim := shimAddress(read(t, "cmdline-shim.bin"))
	if !shim || addr != "/var/lib/kprobe-soak1h/containerd/containerd.sock" {
		t.Errorf("shim cmdline: %q %v", addr, shim)
	}
	for _, c := range []struct {
		cmdline, addr string
		shim          bool
	}{
		{"/usr/bin/containerd\x00--config\x00/var/lib/kprobe/containerd/config.toml\x00", "", false},
		{"sh\x00-c\x00containerd-shim-runc-v2 -address /x\x00", "", false},
		{"containerd-shim-runc-v2\x00-address=/run/k3s/containerd/containerd.sock\x00", "/run/k3s/containerd/containerd.sock", true},
		{"containerd-shim-runc-v2\x00-namespace\x00k8s.io\x00", "", true},
		{"", "", false},
	} {
		addr, shim := shimAddress([]byte(c.cmdline))
		if addr != c.addr || shim != c.shim {
			t.Errorf("%q: %q %v, want %q %v", c.cmdline, addr, shim, c.addr, c.shim)
		}
	}
}

func TestShimFilter(t *testing.T) {
	ours := shimFilter("kubernetes", "/var/lib/kprobe-soak1h")
	addr, _ := shimAddress(read(t, "cmdline-shim.bin"))
	if !ours(addr) {
		t.Errorf("the data dir's own shim is not ours: %s", addr)
	}
	if ours("/var/lib/kprobe/containerd/containerd.sock") || ours("/run/k3s/containerd/containerd.sock") {
		t.Error("another cluster's shim counted as ours")
	}
	if !shimFilter("k3s", "/var/lib/rancher/k3s")("/run/k3s/containerd/containerd.sock") {
		t.Error("k3s's shim is not ours")
	}
}

func TestPodUID(t *testing.T) {
	const uid = "0cfae8b8-0924-4df6-b048-fbe3e94c3fc0"
	for _, name := range []string{"cgroup-v1-nested-pod.txt", "cgroup-v1-in-sandbox-pod.txt"} {
		if got := podUID(read(t, name)); got != uid {
			t.Errorf("%s: %q, want %q", name, got, uid)
		}
	}
	if got := podUID(read(t, "cgroup-v1-host-shell.txt")); got != "" {
		t.Errorf("a host shell is in pod %q", got)
	}
	// The kubelet's systemd cgroup driver writes the UID with underscores.
	systemd := "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0cfae8b8_0924_4df6_b048_fbe3e94c3fc0.slice/cri-containerd-7c04.scope\n"
	if got := podUID([]byte(systemd)); got != uid {
		t.Errorf("systemd driver: %q", got)
	}
}

func TestLogLineParsers(t *testing.T) {
	ts, text, ok := splitTimestamp("2026-11-28T18:47:30.123456789Z tick 42")
	if !ok || text != "tick 42" || !ts.Equal(time.Date(2026, 11, 28, 18, 47, 30, 123456789, time.UTC)) {
		t.Errorf("splitTimestamp: %v %q %v", ts, text, ok)
	}
	if _, _, ok := splitTimestamp("tick 42"); ok {
		t.Error("a line without a timestamp parsed")
	}
	if n, ok := field("tick 42", "tick "); !ok || n != 42 {
		t.Errorf("field: %d %v", n, ok)
	}
	if n, ok := field("writer-start lines=0", "writer-start lines="); !ok || n != 0 {
		t.Errorf("field: %d %v", n, ok)
	}
	if _, ok := field("scaler tick 3", "tick "); ok {
		t.Error("field matched in the middle")
	}
	line := "load 17 ok=4 fail=1"
	n, _ := field(line, "load ")
	okN, _ := value(line, "ok=")
	failN, _ := value(line, "fail=")
	if n != 17 || okN != 4 || failN != 1 {
		t.Errorf("load line: %d %d %d", n, okN, failN)
	}
	if _, ok := value("load-ready waited=0s", "ok="); ok {
		t.Error("value found a missing key")
	}
}
