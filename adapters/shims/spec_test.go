package shims

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func spec(t *testing.T) *specs.Spec {
	t.Helper()
	var s specs.Spec
	if err := json.Unmarshal([]byte(testSpec), &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

const testSpec = `{"ociVersion":"1.0.2","process":{"cwd":"/","args":["pause"],"oomScoreAdj":-998},
"root":{"path":"rootfs"},"mounts":[{"destination":"/proc","type":"proc","source":"proc"},
{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup"}],
"linux":{"namespaces":[{"type":"pid"},{"type":"cgroup"},{"type":"mount"}],"cgroupsPath":"/k8s.io/abc",
"resources":{"memory":{"limit":1000000}},"sysctl":{"net.ipv4.ip_unprivileged_port_start":"0","kernel.shm_rmid_forced":"1"}}}`

// A normal Linux host: root with every capability, a cgroup namespace,
// every sysctl.
var linuxHost = HostFacts{CgroupNS: true, OOMScoreAdj: 0, OOMScoreAdjWritable: true, CapSysResource: true,
	SysctlExists: func(string) bool { return true }}

// gVisor (runsc 20221219): no cgroup namespace, most of /proc/sys missing.
var gvisorHost = HostFacts{CgroupNS: false, OOMScoreAdj: 0, OOMScoreAdjWritable: true, CapSysResource: true,
	SysctlExists: func(n string) bool { return n == "net.ipv4.ip_unprivileged_port_start" }}

// A container without CAP_SYS_RESOURCE (research/real-cluster.md failure 1).
var noSysResource = HostFacts{CgroupNS: true, OOMScoreAdj: 0, OOMScoreAdjWritable: true, CapSysResource: false}

func nsTypes(s *specs.Spec) []string {
	var out []string
	for _, n := range s.Linux.Namespaces {
		out = append(out, string(n.Type))
	}
	return out
}

func TestRewriteSpec(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       WrapperOptions
		h       HostFacts
		changes []string // substrings, in order
		ns      []string
		oom     bool // oomScoreAdj kept
		sysctls int
		mounts  int
	}{
		{name: "linux host auto: nothing", o: DefaultWrapperOptions(), h: linuxHost,
			ns: []string{"pid", "cgroup", "mount"}, oom: true, sysctls: 2, mounts: 2},
		{name: "gvisor auto", o: DefaultWrapperOptions(), h: gvisorHost,
			changes: []string{"dropped the cgroup namespace (the kernel has no cgroup namespace)", "dropped sysctls kernel.shm_rmid_forced (no /proc/sys entry here)"},
			ns:      []string{"pid", "mount"}, oom: true, sysctls: 1, mounts: 2},
		{name: "no CAP_SYS_RESOURCE", o: DefaultWrapperOptions(), h: noSysResource,
			changes: []string{"dropped oomScoreAdj -998 (lowering it below 0 needs CAP_SYS_RESOURCE)"},
			ns:      []string{"pid", "cgroup", "mount"}, sysctls: 2, mounts: 2},
		{name: "oom_score_adj not writable", o: DefaultWrapperOptions(), h: HostFacts{CgroupNS: true, CapSysResource: true},
			changes: []string{"dropped oomScoreAdj -998 (oom_score_adj cannot be written here)"},
			ns:      []string{"pid", "cgroup", "mount"}, sysctls: 2, mounts: 2},
		{name: "keep everything", o: WrapperOptions{CgroupNS: Keep, OOMScoreAdj: Keep, Sysctls: Keep}, h: HostFacts{},
			ns: []string{"pid", "cgroup", "mount"}, oom: true, sysctls: 2, mounts: 2},
		{name: "drop everything, ignore cgroups", o: WrapperOptions{CgroupNS: Drop, OOMScoreAdj: Drop, Sysctls: Drop, IgnoreCgroups: true}, h: linuxHost,
			changes: []string{"dropped the cgroup namespace (asked to)", "dropped sysctls kernel.shm_rmid_forced,net.ipv4.ip_unprivileged_port_start (asked to)",
				"dropped linux.resources", "dropped cgroupsPath /k8s.io/abc", "dropped the cgroup mount on /sys/fs/cgroup", "dropped oomScoreAdj -998 (asked to)"},
			ns: []string{"pid", "mount"}, mounts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(t)
			ch := RewriteSpec(s, tc.o, tc.h)
			if len(ch) != len(tc.changes) {
				t.Fatalf("changes %q, want %d like %q", ch, len(tc.changes), tc.changes)
			}
			for i := range ch {
				if !strings.Contains(ch[i], tc.changes[i]) {
					t.Errorf("change %d: %q, want %q", i, ch[i], tc.changes[i])
				}
			}
			if got := nsTypes(s); !reflect.DeepEqual(got, tc.ns) {
				t.Errorf("namespaces %v, want %v", got, tc.ns)
			}
			if (s.Process.OOMScoreAdj != nil) != tc.oom {
				t.Errorf("oomScoreAdj kept = %v, want %v", s.Process.OOMScoreAdj != nil, tc.oom)
			}
			if len(s.Linux.Sysctl) != tc.sysctls || len(s.Mounts) != tc.mounts {
				t.Errorf("sysctls %v mounts %v", s.Linux.Sysctl, s.Mounts)
			}
			// Idempotent: a second pass changes nothing.
			if again := RewriteSpec(s, tc.o, tc.h); len(again) != 0 {
				t.Errorf("second rewrite changed %q", again)
			}
		})
	}
	if RewriteSpec(nil, DefaultWrapperOptions(), linuxHost) != nil {
		t.Error("nil spec")
	}
	if RewriteSpec(&specs.Spec{}, WrapperOptions{CgroupNS: Drop, OOMScoreAdj: Drop, IgnoreCgroups: true}, HostFacts{}) != nil {
		t.Error("empty spec")
	}
}

func TestParseRuntimeArgs(t *testing.T) {
	for _, tc := range []struct {
		args            []string
		sub, bundle, id string
	}{
		{[]string{"--root", "/run/containerd/runc/k8s.io", "--log", "/x/log.json", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "abc"}, "create", "/b", "abc"},
		{[]string{"--systemd-cgroup", "run", "-b", "/b2", "id2"}, "run", "/b2", "id2"},
		{[]string{"--root=/r", "create", "--bundle=/b3", "id3"}, "create", "/b3", "id3"},
		{[]string{"create", "id4"}, "create", ".", "id4"},
		{[]string{"--root", "/r", "delete", "--force", "abc"}, "delete", ".", "abc"},
		{[]string{"--version"}, "", "", ""},
	} {
		sub, bundle, id := parseRuntimeArgs(tc.args)
		if sub != tc.sub || bundle != tc.bundle || id != tc.id {
			t.Errorf("%q: %q %q %q, want %q %q %q", tc.args, sub, bundle, id, tc.sub, tc.bundle, tc.id)
		}
	}
}

func TestSaveLoadAndNames(t *testing.T) {
	p := filepath.Join(t.TempDir(), "d", "shims.json")
	as, err := Load(p)
	if err != nil || as != nil {
		t.Fatalf("missing file: %v %v", as, err)
	}
	in := []*Applied{{Shim: "kmsg", MountNS: "mnt:[1]", Steps: []Step{{Op: "mount", Path: "/dev/kmsg", MountID: 7, NS: true}}, Outputs: map[string]string{"method": "bind"}}}
	if err := Save(p, in); err != nil {
		t.Fatal(err)
	}
	out, err := Load(p)
	if err != nil || !reflect.DeepEqual(in[0].Steps, out[0].Steps) || out[0].Outputs["method"] != "bind" {
		t.Fatalf("round trip: %+v %v", out, err)
	}
	want := []string{"cgroup-evacuate", "fake-sysctls", "kmsg", "rshared", "runtime-wrapper", "tmpfs-datadir"}
	if got := Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v", got)
	}
	if _, err := Get("nope"); err == nil {
		t.Error("Get(nope)")
	}
	if got := sysctlPath("kernel.keys.root_maxkeys"); got != "kernel/keys/root_maxkeys" {
		t.Error(got)
	}
	if got := sysctlPath("/net/ipv4/conf/eth0.1/forwarding"); got != "net/ipv4/conf/eth0.1/forwarding" {
		t.Error(got)
	}
}

func TestRewriteSpecDropsUnmappedDevptsGID(t *testing.T) {
	s := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/dev/pts", Type: "devpts", Options: []string{"nosuid", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
	}}
	onlyRoot := HostFacts{CgroupNS: true, GIDMapped: func(g uint32) bool { return g == 0 }, UIDMapped: func(u uint32) bool { return u == 0 }}
	ch := RewriteSpec(s, WrapperOptions{}, onlyRoot)
	if len(ch) != 1 || strings.Join(s.Mounts[0].Options, ",") != "nosuid,newinstance,ptmxmode=0666,mode=0620" {
		t.Fatalf("changes %v, options %v", ch, s.Mounts[0].Options)
	}
	pause := &specs.Spec{Process: &specs.Process{User: specs.User{UID: 65535, GID: 65535, AdditionalGids: []uint32{0, 65535}}}}
	if ch := RewriteSpec(pause, WrapperOptions{}, onlyRoot); len(ch) != 2 || pause.Process.User.UID != 0 || len(pause.Process.User.AdditionalGids) != 1 {
		t.Fatalf("unmapped user: %v %+v", ch, pause.Process.User)
	}
	full := HostFacts{CgroupNS: true, GIDMapped: func(uint32) bool { return true }, UIDMapped: func(uint32) bool { return true }}
	s.Mounts[0].Options = append(s.Mounts[0].Options, "gid=5")
	if ch := RewriteSpec(s, WrapperOptions{}, full); len(ch) != 0 {
		t.Fatalf("a mapped gid was dropped: %v", ch)
	}
	if got := parseIDMap("         0          0 4294967295\n"); len(got) != 1 || got[0] != [2]uint32{0, 4294967295} {
		t.Fatalf("parseIDMap = %v", got)
	}
}
