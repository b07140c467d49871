package hoststate

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kprobe/kprobe/probes/sysctls"
)

// fakeProcSys points the sysctl reads and writes at a directory holding
// this VM's fresh values (the kernel's defaults the issue was found on).
func fakeProcSys(t *testing.T, values map[string]string) string {
	t.Helper()
	dir := t.TempDir() + "/"
	for k, v := range values {
		p := filepath.Join(dir, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := procSys
	procSys = dir
	t.Cleanup(func() { procSys = old })
	return dir
}

var freshHost = map[string]string{
	"kernel/panic": "1", "kernel/panic_on_oops": "0", "vm/overcommit_memory": "0", "vm/panic_on_oom": "0",
	"kernel/keys/root_maxkeys": "1000000", "kernel/keys/root_maxbytes": "25000000",
	"net/ipv4/ip_forward": "0", "net/ipv4/conf/all/route_localnet": "0",
}

// The finding: the kubelet set kernel.panic 1->10, panic_on_oops 0->1 and
// overcommit_memory 0->1, and stop restored none of them because the
// journal did not record them.
func TestJournalRecordsAndRestoresTheKubeletsSysctls(t *testing.T) {
	dir := fakeProcSys(t, freshHost)
	for _, tu := range sysctls.KubeletTunables {
		if !slices.Contains(ClusterSysctls(), sysctlPath(tu.Name)) {
			t.Errorf("ClusterSysctls misses the kubelet's %s", tu.Name)
		}
	}
	s := &Snapshot{Sysctls: map[string]string{}}
	for _, k := range ClusterSysctls() {
		if v, err := readSysctl(k); err == nil {
			s.Sysctls[k] = v
		}
	}
	saves := 0
	all, notes, err := s.ApplyKubeletSysctls(func() error { saves++; return nil })
	if err != nil || !all {
		t.Fatalf("apply: all=%v err=%v notes=%q", all, err, notes)
	}
	for k, want := range map[string]string{"kernel/panic": "10", "kernel/panic_on_oops": "1", "vm/overcommit_memory": "1"} {
		if v, _ := readSysctl(k); v != want {
			t.Errorf("%s = %s after apply, want %s", k, v, want)
		}
		if s.KernelSet[k] != want {
			t.Errorf("journal has %s=%q, want %s", k, s.KernelSet[k], want)
		}
	}
	if saves < 4 { // before each of the three writes, and at the end
		t.Errorf("saved %d times: a crash between a write and a save would lose the value to restore", saves)
	}
	// What the cluster's network components set besides.
	if err := os.WriteFile(dir+"net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if left := s.sysctlLeftovers(); len(left) != 4 {
		t.Errorf("before undo: %q, want 4 changed sysctls", left)
	}
	var done []string
	var errs []error
	s.restoreSysctls(func(f string, a ...any) { done = append(done, f) }, func(e error) { errs = append(errs, e) })
	if len(errs) > 0 || len(done) != 4 {
		t.Fatalf("restore: done %d, errors %v", len(done), errs)
	}
	for k, want := range freshHost {
		if v, _ := readSysctl(k); v != want {
			t.Errorf("%s = %s after stop, want %s", k, v, want)
		}
	}
	if left := s.sysctlLeftovers(); len(left) != 0 {
		t.Errorf("after undo: %q", left)
	}
}

// A tunable that cannot be written (read-only /proc/sys) is not claimed:
// the kubelet is then not told to only check it.
func TestApplyKubeletSysctlsReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes a 0444 file anyway")
	}
	dir := fakeProcSys(t, freshHost)
	if err := os.Chmod(dir+"kernel/panic", 0o444); err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{Sysctls: map[string]string{}}
	all, _, err := s.ApplyKubeletSysctls(func() error { return nil })
	if err != nil || all {
		t.Fatalf("all=%v err=%v, want all=false", all, err)
	}
	if _, ok := s.KernelSet["kernel/panic"]; ok {
		t.Error("the journal claims a write that failed")
	}
}

func TestEmptyTable(t *testing.T) {
	for rules, want := range map[string]bool{
		"-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n": true,
		"":                                      true,
		"-P INPUT ACCEPT\n-N KUBE-FIREWALL\n":   false,
		"-P INPUT DROP\n":                       false,
		"-P INPUT ACCEPT\n-A INPUT -j ACCEPT\n": false,
	} {
		if emptyTable(rules) != want {
			t.Errorf("emptyTable(%q) = %v", rules, !want)
		}
	}
}
