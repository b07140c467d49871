package zoo_test

import (
	"strings"
	"testing"
)

// What the first launch in the cgroup v2 VM left (2026-12-07): the
// scan's three container cgroups and the six nf_tables tables stop
// could not delete without the nft command, and the data dir it kept.
func TestMachineDiffNamesWhatStopLeft(t *testing.T) {
	before := "# mounts\n/\n/proc\n# links\nlo:\n# cgroups\ncgroup.procs\n# iptables\n# files\n"
	after := "# mounts\n/\n/proc\n# links\nlo:\n# cgroups\ncgroup.procs\nkprobe-full-162-c309e304\n# iptables\n*nat\n:PREROUTING ACCEPT \nCOMMIT\n# files\n/var/lib/kprobe\n"
	d := machineDiff([]byte(before), []byte(after))
	for _, want := range []string{"+ cgroups: kprobe-full-162-c309e304", "+ iptables: *nat", "+ files: /var/lib/kprobe"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if d := machineDiff([]byte(before), []byte(before)); d != "" {
		t.Errorf("no change, but diff %q", d)
	}
	if d := machineDiff(nil, []byte(after)); d == "" {
		t.Error("a missing snapshot passed")
	}
}
