package cgroups

import (
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"

	"github.com/kprobe/kprobe/probes/procfs"
)

// Real dumps. hostMountinfo and hostProcCgroup are this machine's (Debian 12
// in Firecracker, hybrid cgroups); the others follow sandbox-zoo.md.
const hostMountinfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k,nr_inodes=3083623,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
`

const hostProcCgroup = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/9813cc0dfab19eda12c7dd7e23561d2c
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`

const hostProcCgroups = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	1	1
cpu	1	1	1
cpuacct	2	1	1
blkio	7	1	1
memory	4	28	1
devices	5	1	1
freezer	6	1	1
net_cls	0	1	1
perf_event	0	1	1
net_prio	0	1	1
hugetlb	0	1	1
pids	8	1	1
`

// dockerMountinfo is runc with a Docker-like spec on this host: a tmpfs
// with read-only v1 hierarchies mounted in a cgroup namespace.
const dockerMountinfo = `600 540 254:0 / / rw,relatime - ext4 /dev/vda rw
601 600 0:80 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
606 600 0:85 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
607 606 0:86 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
608 607 0:29 / /sys/fs/cgroup/cpu ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
609 607 0:30 / /sys/fs/cgroup/cpuacct ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpuacct
610 607 0:31 / /sys/fs/cgroup/cpuset ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpuset
611 607 0:32 / /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
612 607 0:33 / /sys/fs/cgroup/devices ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,devices
613 607 0:34 / /sys/fs/cgroup/freezer ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,freezer
614 607 0:35 / /sys/fs/cgroup/blkio ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,blkio
615 607 0:36 / /sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
616 607 0:37 / /sys/fs/cgroup/systemd ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,name=systemd
`

// gvisorMountinfo is runsc do: no cgroup filesystem at all.
const gvisorMountinfo = `1 0 0:3 / / rw,relatime - overlay none rw
2 1 0:4 / /proc rw,nosuid,nodev,noexec,relatime - proc none rw
3 1 0:5 / /sys ro,nosuid,nodev,noexec,relatime - sysfs none ro
4 1 0:6 / /dev rw,relatime - tmpfs none rw,mode=0755
5 4 0:7 / /dev/pts rw,relatime - devpts none rw
6 1 0:8 / /tmp rw,relatime - tmpfs none rw,mode=01777
`

// v2NSMountinfo is Docker on a cgroup2 host with a private cgroup
// namespace (the layout the zoo lacks): cgroup2 at /sys/fs/cgroup.
const v2NSMountinfo = `700 650 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
706 700 0:55 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
707 706 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

// cgroupMounts parses a mount table that must be well formed.
func cgroupMounts(t testing.TB, text string) []Mount {
	t.Helper()
	all, err := procfs.ParseMountinfo(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return CgroupMounts(all)
}

func TestCgroupMounts(t *testing.T) {
	ms := cgroupMounts(t, hostMountinfo)
	if len(ms) != 10 {
		t.Fatalf("host: %d cgroup mounts, want 10: %+v", len(ms), ms)
	}
	if m := ms[3]; m.Mountpoint != "/sys/fs/cgroup/memory" || !reflect.DeepEqual(m.Controllers, []string{"memory"}) || m.ReadOnly {
		t.Errorf("memory mount = %+v", m)
	}
	if m := ms[8]; m.Name != "systemd" || len(m.Controllers) != 0 {
		t.Errorf("systemd mount = %+v", m)
	}
	if m := ms[9]; !m.V2() || m.Mountpoint != "/sys/fs/cgroup/unified" {
		t.Errorf("unified mount = %+v", m)
	}

	ms = cgroupMounts(t, dockerMountinfo)
	for _, m := range ms {
		if !m.ReadOnly {
			t.Errorf("docker-like mount %s not read-only", m.Mountpoint)
		}
	}

	ms = cgroupMounts(t, "36 35 98:0 /a\\040b /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct,clone_children,release_agent=/x\n")
	if got := ms[0]; got.Root != "/a b" || !reflect.DeepEqual(got.Controllers, []string{"cpu", "cpuacct"}) {
		t.Errorf("escaped comount = %+v", got)
	}
	if ms := cgroupMounts(t, gvisorMountinfo); len(ms) != 0 {
		t.Errorf("gVisor has no cgroup mounts, got %+v", ms)
	}
	if ms := cgroupMounts(t, "9 1 0:9 / /run/cg rw - cgroup2 cgroup2 ro,nsdelegate\n"); len(ms) != 1 || !ms[0].ReadOnly || !ms[0].V2() {
		t.Errorf("read-only superblock: %+v", ms)
	}
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"host hybrid", hostMountinfo, "hybrid"},
		{"docker-like v1", dockerMountinfo, "v1"},
		{"gvisor", gvisorMountinfo, "none"},
		{"v2 private ns", v2NSMountinfo, "v2"},
		{"systemd-only v1 is none", "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n", "none"},
		{"v2 plus named v1", v2NSMountinfo + "708 707 0:60 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n", "v2"},
		{"v2 elsewhere only", "9 1 0:9 / /run/cg rw - cgroup2 cgroup2 rw\n", "v2"},
	} {
		if got := Layout(cgroupMounts(t, tc.text)); got != tc.want {
			t.Errorf("%s: Layout = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	ms, err := ParseProcCgroup(strings.NewReader(hostProcCgroup))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 10 {
		t.Fatalf("%d lines, want 10", len(ms))
	}
	if p, ok := V1Path(ms, "memory"); !ok || p != "/process_api/9813cc0dfab19eda12c7dd7e23561d2c" {
		t.Errorf("memory path = %q %v", p, ok)
	}
	if p, ok := V2Path(ms); !ok || p != "/" {
		t.Errorf("v2 path = %q %v", p, ok)
	}
	if _, ok := V1Path(ms, "name=systemd"); !ok {
		t.Error("named hierarchy not found")
	}

	// gVisor: empty file.
	ms, err = ParseProcCgroup(strings.NewReader(""))
	if err != nil || len(ms) != 0 {
		t.Errorf("empty: %v %v", ms, err)
	}
	if _, ok := V2Path(ms); ok {
		t.Error("empty file has a v2 path")
	}
	// A path with a colon stays whole.
	ms, err = ParseProcCgroup(strings.NewReader("0::/a:b\n"))
	if err != nil || ms[0].Path != "/a:b" {
		t.Errorf("colon path: %+v %v", ms, err)
	}
	for _, bad := range []string{"x::/", "4:memory", "-1::/"} {
		if _, err := ParseProcCgroup(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseProcCgroup(%q) accepted a malformed line", bad)
		}
	}
}

func TestParseProcCgroups(t *testing.T) {
	subs, err := ParseProcCgroups(strings.NewReader(hostProcCgroups))
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 12 {
		t.Fatalf("%d rows, want 12", len(subs))
	}
	if s := subs[4]; s.Name != "memory" || s.Hierarchy != 4 || s.Cgroups != 28 || !s.Enabled {
		t.Errorf("memory row = %+v", s)
	}
	if s := subs[10]; s.Name != "hugetlb" || s.Hierarchy != 0 {
		t.Errorf("hugetlb row = %+v", s)
	}
	if _, err := ParseProcCgroups(strings.NewReader("memory 4 x 1")); err == nil {
		t.Error("accepted a non-number")
	}
}

func TestCgroupDir(t *testing.T) {
	for _, tc := range []struct {
		root, mp, path, want string
	}{
		{"/", "/sys/fs/cgroup/memory", "/process_api/98", "/sys/fs/cgroup/memory/process_api/98"},
		{"/", "/sys/fs/cgroup/unified", "/", "/sys/fs/cgroup/unified"},
		// Docker without cgroupns: the mount shows the container's cgroup.
		{"/docker/abc", "/sys/fs/cgroup/memory", "/docker/abc", "/sys/fs/cgroup/memory"},
		{"/docker/abc", "/sys/fs/cgroup/memory", "/docker/abc/sub", "/sys/fs/cgroup/memory/sub"},
		{"/docker/abc", "/sys/fs/cgroup/memory", "/other", "/sys/fs/cgroup/memory/other"},
	} {
		if got := CgroupDir(Mount{Info: mountinfo.Info{Root: tc.root, Mountpoint: tc.mp}}, tc.path); got != tc.want {
			t.Errorf("CgroupDir(%q, %q, %q) = %q, want %q", tc.root, tc.mp, tc.path, got, tc.want)
		}
	}
}

func TestMountSelection(t *testing.T) {
	ms := cgroupMounts(t, hostMountinfo)
	if m, ok := V2Mount(ms); !ok || m.Mountpoint != "/sys/fs/cgroup/unified" {
		t.Errorf("V2Mount = %+v %v", m, ok)
	}
	if m, ok := V1Mount(ms, "pids"); !ok || m.Mountpoint != "/sys/fs/cgroup/pids" {
		t.Errorf("V1Mount(pids) = %+v %v", m, ok)
	}
	if _, ok := V1Mount(ms, "hugetlb"); ok {
		t.Error("hugetlb found on v1")
	}
	// A read-only bind mounted over a read-write hierarchy wins.
	over := hostMountinfo + "90 39 0:36 / /sys/fs/cgroup/pids ro,relatime - cgroup cgroup rw,pids\n"
	ms = cgroupMounts(t, over)
	if m, _ := V1Mount(ms, "pids"); !m.ReadOnly {
		t.Errorf("top mount not chosen: %+v", m)
	}
}

func TestOwnNamespace(t *testing.T) {
	for _, tc := range []struct {
		link    string
		own, ok bool
	}{
		{"cgroup:[4026531835]", false, true},
		{"cgroup:[4026532301]", true, true},
		{"", false, false},
		{"net:[4026531840]", false, false},
	} {
		own, ok := OwnNamespace(tc.link)
		if own != tc.own || ok != tc.ok {
			t.Errorf("OwnNamespace(%q) = %v %v, want %v %v", tc.link, own, ok, tc.own, tc.ok)
		}
	}
}

func TestHasFilesystem(t *testing.T) {
	host := "nodev\tsysfs\nnodev\tcgroup\nnodev\tcgroup2\n\text4\n"
	gvisor := "nodev\t9p\nnodev\tcgroup\nnodev\tdevpts\nnodev\tfuse\nnodev\toverlay\nnodev\tproc\n"
	if !HasFilesystem(host, "cgroup2") || !HasFilesystem(host, "ext4") {
		t.Error("host filesystems not found")
	}
	if HasFilesystem(gvisor, "cgroup2") {
		t.Error("gVisor lists no cgroup2")
	}
}

func TestParseControllerList(t *testing.T) {
	if got := ParseControllerList("cpuset cpu io memory hugetlb pids rdma misc\n"); len(got) != 8 || got[5] != "pids" {
		t.Errorf("got %q", got)
	}
	if got := ParseControllerList("\n"); got == nil || len(got) != 0 {
		t.Errorf("empty list = %#v, want empty non-nil", got)
	}
}

func FuzzCgroupMounts(f *testing.F) {
	for _, s := range []string{hostMountinfo, dockerMountinfo, gvisorMountinfo, v2NSMountinfo, "1 2 0:1 /\\04 /x rw - cgroup c rw,cpu"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		all, _ := procfs.ParseMountinfo(strings.NewReader(s))
		ms := CgroupMounts(all)
		_ = Layout(ms)
		for _, m := range ms {
			if m.FSType != "cgroup" && m.FSType != "cgroup2" {
				t.Fatalf("non-cgroup mount %+v", m)
			}
			_ = CgroupDir(m, "/x")
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	for _, s := range []string{hostProcCgroup, "", "0::/\n", "1:name=systemd:/user.slice\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseProcCgroup(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range ms {
			if m.ID < 0 {
				t.Fatalf("negative ID %+v", m)
			}
		}
	})
}

func FuzzParseProcCgroups(f *testing.F) {
	f.Add(hostProcCgroups)
	f.Add("#subsys_name\thierarchy\tnum_cgroups\tenabled\n")
	f.Fuzz(func(t *testing.T, s string) {
		subs, err := ParseProcCgroups(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, x := range subs {
			if x.Name == "" {
				t.Fatalf("empty name %+v", x)
			}
		}
	})
}

// TestOwnPath: where the kubelet's "/kubepods" lands relative to the own
// cgroup, from mountinfo roots and /proc/self/cgroup as the zoo's
// runc-privileged (cgroupns), a runc without cgroupns (binds of the own
// cgroup, Docker's v1 default), the host tree bound in (runc-privileged-hostcg)
// and this host (memory alone below /process_api) show them.
func TestOwnPath(t *testing.T) {
	v1 := func(root, ctrl string) Mount {
		return Mount{Info: mountinfo.Info{Root: root, Mountpoint: "/sys/fs/cgroup/" + ctrl, FSType: "cgroup"}, Controllers: []string{ctrl}}
	}
	unified := func(root string) Mount {
		return Mount{Info: mountinfo.Info{Root: root, Mountpoint: "/sys/fs/cgroup/unified", FSType: "cgroup2"}}
	}
	v2 := func(root string) Mount {
		return Mount{Info: mountinfo.Info{Root: root, Mountpoint: "/sys/fs/cgroup", FSType: "cgroup2"}}
	}
	member := func(id int, ctrl, p string) Membership {
		m := Membership{ID: id, Path: p}
		if ctrl != "" {
			m.Controllers = []string{ctrl}
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		mounts  []Mount
		members []Membership
		layout  string
		want    string
		ok      bool
	}{
		{"cgroupns", []Mount{v1("/", "cpu"), v1("/", "memory"), unified("/")},
			[]Membership{member(1, "cpu", "/"), member(4, "memory", "/"), member(0, "", "/")}, "hybrid", "/", true},
		{"runc binds without cgroupns", []Mount{v1("/zoo-1", "cpu"), v1("/process_api/a/zoo-1", "memory")},
			[]Membership{member(1, "cpu", "/zoo-1"), member(4, "memory", "/process_api/a/zoo-1")}, "v1", "/", true},
		{"host tree bound in", []Mount{v1("/", "cpu"), v1("/", "memory"), unified("/")},
			[]Membership{member(1, "cpu", "/zoo-1"), member(4, "memory", "/zoo-1"), member(0, "", "/zoo-1")}, "hybrid", "/zoo-1", true},
		{"hybrid: the unified hierarchy does not count", []Mount{v1("/", "cpu"), v1("/", "memory"), unified("/")},
			[]Membership{member(1, "cpu", "/docker/x"), member(4, "memory", "/docker/x"), member(0, "", "/")}, "hybrid", "/docker/x", true},
		{"this host: hierarchies disagree", []Mount{v1("/", "cpu"), v1("/", "memory")},
			[]Membership{member(1, "cpu", "/"), member(4, "memory", "/process_api/a")}, "v1", "", false},
		{"v2 --cgroupns=host", []Mount{v2("/")},
			[]Membership{member(0, "", "/system.slice/docker-x.scope")}, "v2", "/system.slice/docker-x.scope", true},
		{"v2 cgroupns", []Mount{v2("/")}, []Membership{member(0, "", "/")}, "v2", "/", true},
		{"v2 mounted above the namespace", []Mount{v2("/../..")}, []Membership{member(0, "", "/")}, "v2", "", false},
		{"no membership", []Mount{v1("/", "memory")}, nil, "v1", "", false},
		{"gVisor: nothing", nil, nil, "none", "", false},
	} {
		got, ok := OwnPath(tc.mounts, tc.members, tc.layout)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: OwnPath = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
