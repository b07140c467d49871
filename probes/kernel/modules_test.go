package kernel

import (
	"slices"
	"testing"
	"testing/fstest"
)

// The lines are Debian's linux-image-6.1.0-57-amd64 (the zoo's VM kernel)
// as depmod wrote them; the builtin list is a kernel with bridge netfilter
// built in.
func TestFindModule(t *testing.T) {
	const rel = "6.1.0-57-amd64"
	dep := "kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko\n" +
		"kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko kernel/net/llc/llc.ko\n"
	debian := fstest.MapFS{
		"lib/modules/" + rel + "/modules.dep":     {Data: []byte(dep)},
		"lib/modules/" + rel + "/modules.builtin": {Data: []byte("kernel/net/ipv4/tcp_cubic.ko\n")},
	}
	m := FindModule(debian, rel, "br_netfilter")
	if m.State != ModuleFile || m.Path != "kernel/net/bridge/br_netfilter.ko" ||
		!slices.Equal(m.Deps, []string{"kernel/net/bridge/bridge.ko", "kernel/net/802/stp.ko", "kernel/net/llc/llc.ko"}) {
		t.Errorf("debian: %+v", m)
	}
	if got := FindModule(debian, rel, "nf_tables").State; got != ModuleAbsent {
		t.Errorf("a module in neither list: %s, want absent", got)
	}
	if got := FindModule(debian, "6.18.44-fc", "br_netfilter").State; got != ModuleUnknown {
		t.Errorf("another release's lists: %s, want unknown", got)
	}
	builtin := fstest.MapFS{
		"lib/modules/" + rel + "/modules.builtin": {Data: []byte("kernel/net/bridge/br_netfilter.ko\n")},
	}
	if got := FindModule(builtin, rel, "br_netfilter").State; got != ModuleBuiltin {
		t.Errorf("built in: %s", got)
	}
	xz := fstest.MapFS{"lib/modules/" + rel + "/modules.dep": {Data: []byte("kernel/net/bridge/br-netfilter.ko.xz: kernel/net/bridge/bridge.ko.xz\n")}}
	if m := FindModule(xz, rel, "br_netfilter"); m.State != ModuleFile || m.Path != "kernel/net/bridge/br-netfilter.ko.xz" {
		t.Errorf("compressed, dashed: %+v (modules.builtin unreadable: still a module file)", m)
	}
}
