package cgroups

import (
	"context"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

func link(target string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// v2ProcCgroups is /proc/cgroups of a cgroup2-only kernel: every controller
// sits in hierarchy 0.
const v2ProcCgroups = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	0	88	1
cpu	0	88	1
cpuacct	0	1	1
blkio	0	88	1
memory	0	88	1
devices	0	1	1
freezer	0	1	1
net_cls	0	1	1
perf_event	0	1	1
net_prio	0	1	1
hugetlb	0	88	1
pids	0	88	1
rdma	0	1	1
misc	0	1	1
`

const hostFilesystems = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\n\text4\nnodev\toverlay\n"

// rootlessMountinfo is real (the zoo's runc-rootless, trimmed to /, /proc
// and /sys): the rootless spec binds the host's /sys with its cgroup tree
// (cgroup2 at /sys/fs/cgroup/unified), then runc mounts a tmpfs of its own
// on /sys/fs/cgroup with read-only v1 binds, covering the host's tree.
const rootlessMountinfo = `215 128 254:0 /var/cache/kprobe-zoo/run/kzoo-runc-rootless-12204-8ec002fa/bundle/rootfs / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
216 215 0:99 / /proc rw,relatime - proc proc rw
221 215 0:22 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs rw
222 221 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
223 222 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
224 222 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
225 222 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
226 222 0:32 /../.. /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
227 222 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
228 222 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
229 222 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
230 222 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
274 222 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
275 222 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
276 222 0:103 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755,uid=1001,gid=1001
277 276 0:29 / /sys/fs/cgroup/cpu ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
278 276 0:30 / /sys/fs/cgroup/cpuacct ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpuacct
279 276 0:31 / /sys/fs/cgroup/cpuset ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpuset
280 276 0:32 / /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
281 276 0:33 / /sys/fs/cgroup/devices ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,devices
282 276 0:34 / /sys/fs/cgroup/freezer ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,freezer
283 276 0:35 / /sys/fs/cgroup/blkio ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,blkio
284 276 0:36 / /sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
285 276 0:37 / /sys/fs/cgroup/systemd ro,nosuid,nodev,noexec,relatime - cgroup systemd rw,name=systemd
`

// Fixture trees of the sandboxes in sandbox-zoo.md, plus the cgroup2
// private-namespace layout of Docker on a modern host.
var sandboxes = map[string]fstest.MapFS{
	"host": {
		"proc/self/mountinfo":                          file(hostMountinfo),
		"proc/self/cgroup":                             file(hostProcCgroup),
		"proc/cgroups":                                 file(hostProcCgroups),
		"proc/filesystems":                             file(hostFilesystems),
		"proc/self/ns/cgroup":                          link("cgroup:[4026531835]"),
		"sys/fs/cgroup/unified/cgroup.controllers":     file("hugetlb\n"),
		"sys/fs/cgroup/unified/cgroup.subtree_control": file("\n"),
	},
	"runc-docker": {
		"proc/self/mountinfo": file(dockerMountinfo),
		"proc/self/cgroup":    file("9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:/\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n"),
		"proc/cgroups":        file(hostProcCgroups),
		"proc/filesystems":    file(hostFilesystems),
		"proc/self/ns/cgroup": link("cgroup:[4026532301]"),
	},
	"runc-rootless": {
		"proc/self/mountinfo": file(rootlessMountinfo),
		"proc/self/cgroup":    file("9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n4:memory:/\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n"),
		"proc/cgroups":        file(hostProcCgroups),
		"proc/filesystems":    file(hostFilesystems),
		"proc/self/ns/cgroup": link("cgroup:[4026532354]"),
	},
	"gvisor": {
		"proc/self/mountinfo": file(gvisorMountinfo),
		"proc/self/cgroup":    file(""),
		"proc/filesystems":    file("nodev\t9p\nnodev\tcgroup\nnodev\tdevpts\nnodev\tfuse\nnodev\toverlay\nnodev\tproc\nnodev\tsysfs\nnodev\ttmpfs\n"),
		"proc/self/ns/net":    link("net:[1]"),
		"proc/self/ns/pid":    link("pid:[2]"),
		"proc/self/ns/user":   link("user:[3]"),
	},
	"docker-v2": {
		"proc/self/mountinfo":                  file(v2NSMountinfo),
		"proc/self/cgroup":                     file("0::/\n"),
		"proc/filesystems":                     file(hostFilesystems),
		"proc/self/ns/cgroup":                  link("cgroup:[4026532400]"),
		"sys/fs/cgroup/cgroup.controllers":     file("cpuset cpu io memory hugetlb pids rdma misc\n"),
		"sys/fs/cgroup/cgroup.subtree_control": file("\n"),
		"sys/fs/cgroup/cgroup.freeze":          file("0\n"),
	},
	"docker-v2-no-pids": {
		"proc/self/mountinfo":                  file(v2NSMountinfo),
		"proc/self/cgroup":                     file("0::/\n"),
		"proc/cgroups":                         file(v2ProcCgroups),
		"proc/self/ns/cgroup":                  link("cgroup:[4026532400]"),
		"sys/fs/cgroup/cgroup.controllers":     file("cpu memory\n"),
		"sys/fs/cgroup/cgroup.subtree_control": file("\n"),
	},
}

func TestRunSandboxes(t *testing.T) {
	all6 := []string{"cpu", "cpuset", "devices", "freezer", "memory", "pids"}
	for _, tc := range []struct {
		name  string
		facts probes.Facts
		codes []string
		sum   string // the Observation.Summary
	}{
		{"host", probes.Facts{
			"cgroups.layout": "hybrid", "cgroups.controllers": all6,
			"cgroups.v2_mount": "/sys/fs/cgroup/unified", "cgroups.v2_controllers": []string{"hugetlb"},
			"cgroups.v2_subtree_control": []string{}, "cgroups.v2_delegated": probes.No,
			"cgroups.namespace": probes.No, "cgroups.cgroup2_fs": probes.Yes, "cgroups.read_only": probes.No,
			"cgroups.self_path": "/process_api/9813cc0dfab19eda12c7dd7e23561d2c",
		}, []string{"KP-CG-002", "KP-CG-007"}, "hybrid, all 6 kubelet controllers, cgroup2 at /sys/fs/cgroup/unified, host cgroup namespace"},
		{"runc-docker", probes.Facts{
			"cgroups.layout": "v1", "cgroups.controllers": all6, "cgroups.v2_mount": "",
			"cgroups.v2_delegated": probes.No, "cgroups.namespace": probes.Yes, "cgroups.read_only": probes.Yes,
			"cgroups.self_path": "/",
		}, []string{"KP-CG-002"}, "v1, all 6 kubelet controllers, read-only, own cgroup namespace"},
		// The host's cgroup2 mount is covered: v1, as runc-docker.
		{"runc-rootless", probes.Facts{
			"cgroups.layout": "v1", "cgroups.controllers": all6, "cgroups.v2_mount": "",
			"cgroups.v2_delegated": probes.No, "cgroups.namespace": probes.Yes, "cgroups.read_only": probes.Yes,
			"cgroups.self_path": "/",
		}, []string{"KP-CG-002"}, "v1, all 6 kubelet controllers, read-only, own cgroup namespace"},
		{"gvisor", probes.Facts{
			"cgroups.layout": "none", "cgroups.controllers": []string{}, "cgroups.v2_mount": "",
			"cgroups.namespace": probes.No, "cgroups.cgroup2_fs": probes.No, "cgroups.self_path": "",
		}, []string{"KP-CG-001"}, "no cgroup hierarchy mounted"},
		{"docker-v2", probes.Facts{
			"cgroups.layout": "v2", "cgroups.controllers": all6, "cgroups.v2_mount": "/sys/fs/cgroup",
			"cgroups.v2_delegated": probes.Yes, "cgroups.namespace": probes.Yes, "cgroups.read_only": probes.No,
			"cgroups.self_path": "/",
		}, nil, "v2, all 6 kubelet controllers, delegated, own cgroup namespace"},
		{"docker-v2-no-pids", probes.Facts{
			"cgroups.layout": "v2", "cgroups.controllers": []string{"cpu", "devices", "memory"},
			"cgroups.v2_delegated": probes.No,
		}, []string{"KP-CG-003"}, "v2, no cpuset freezer pids, not delegated, own cgroup namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Probe{}.Run(context.Background(), &probes.Env{Root: sandboxes[tc.name]})
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.facts {
				if got := o.Facts[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
			if got := obstest.Codes(o.Findings); !reflect.DeepEqual(got, tc.codes) {
				t.Errorf("codes = %v, want %v", got, tc.codes)
			}
			if o.Summary != tc.sum {
				t.Errorf("summary %q, want %q", o.Summary, tc.sum)
			}
			declared := map[string]bool{}
			for _, s := range (Probe{}).Facts() {
				declared[s.Key] = true
			}
			for k := range o.Facts {
				if !declared[k] {
					t.Errorf("undeclared fact %s", k)
				}
			}
		})
	}
}

func TestMissingPidsFix(t *testing.T) {
	fsys := sandboxes["docker-v2-no-pids"]
	o, _ := Probe{}.Run(context.Background(), &probes.Env{Root: fsys})
	if len(o.Findings) != 1 || !strings.Contains(o.Findings[0].Fix, "echo '+pids' > PARENT/cgroup.subtree_control") {
		t.Errorf("not delegated: findings = %+v", o.Findings)
	}

	// pids held by a v1 hierarchy (WSL2-like): delegation cannot help.
	wsl := fstest.MapFS{}
	for k, v := range fsys {
		wsl[k] = v
	}
	wsl["proc/cgroups"] = file(hostProcCgroups)
	o, _ = Probe{}.Run(context.Background(), &probes.Env{Root: wsl})
	if len(o.Findings) != 1 || !strings.Contains(o.Findings[0].Fix, "cgroup_no_v1=all") {
		t.Errorf("bound to v1: findings = %+v", o.Findings)
	}

	// Disabled in the kernel.
	off := fstest.MapFS{}
	for k, v := range fsys {
		off[k] = v
	}
	off["proc/cgroups"] = file("#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t1\t1\nmemory\t0\t1\t1\npids\t0\t1\t0\n")
	o, _ = Probe{}.Run(context.Background(), &probes.Env{Root: off})
	if len(o.Findings) != 1 || !strings.Contains(o.Findings[0].Fix, "CONFIG_CGROUP_PIDS") {
		t.Errorf("disabled: findings = %+v", o.Findings)
	}
}

func TestRunWithoutMountinfo(t *testing.T) {
	o, err := Probe{}.Run(context.Background(), &probes.Env{Root: fstest.MapFS{}})
	if err == nil {
		t.Fatal("no error without mountinfo")
	}
	if got := o.Facts.String("cgroups.layout"); got != "unknown" {
		t.Errorf("layout = %q, want unknown", got)
	}
	if got := o.Facts.Tri("cgroups.namespace"); got != probes.Unknown {
		t.Errorf("namespace = %v, want unknown (nothing seen)", got)
	}
	if len(o.Findings) != 0 {
		t.Errorf("findings without evidence: %+v", o.Findings)
	}

	// A garbled line may hide a hierarchy: the layout is unknown too.
	garbled := fstest.MapFS{"proc/self/mountinfo": file(hostMountinfo + "43 31 0:39 / /sys/fs/cgroup/hugetlb rw - cgroup\n")}
	o, err = Probe{}.Run(context.Background(), &probes.Env{Root: garbled})
	if err == nil || o.Facts.String("cgroups.layout") != "unknown" || len(o.Findings) != 0 {
		t.Errorf("garbled mountinfo: err %v, layout %q, findings %+v", err, o.Facts.String("cgroups.layout"), o.Findings)
	}
}

func TestTriOfWrite(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want probes.Tri
	}{
		{nil, probes.Yes},
		{probes.ErrFromText("EROFS"), probes.No},
		{probes.ErrFromText("EACCES"), probes.No},
		{probes.ErrFromText("EPERM"), probes.No},
		{probes.ErrFromText("EINVAL"), probes.Unknown},
		{probes.ErrFromText("ENOENT"), probes.Unknown},
	} {
		if got := triOfWrite(tc.err); got != tc.want {
			t.Errorf("triOfWrite(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if all(nil) != probes.Unknown || all([]probes.Tri{probes.Yes, probes.Unknown}) != probes.Unknown ||
		all([]probes.Tri{probes.Unknown, probes.No}) != probes.No || all([]probes.Tri{probes.Yes}) != probes.Yes {
		t.Error("all() combines wrongly")
	}
}

// A covered cgroup tree is named in the evidence, not used.
func TestCoveredCgroupMounts(t *testing.T) {
	o, err := Probe{}.Run(context.Background(), &probes.Env{Root: sandboxes["runc-rootless"]})
	if err != nil {
		t.Fatal(err)
	}
	want := "10 cgroup mount(s) covered by later mounts, ignored: cgroup /sys/fs/cgroup/cpu, "
	found := false
	for _, e := range o.Evidence {
		if strings.HasPrefix(e.Excerpt, want) && strings.HasSuffix(e.Excerpt, ", cgroup2 /sys/fs/cgroup/unified") {
			found = true
		}
		if strings.Contains(e.Excerpt, "cgroup2 /sys/fs/cgroup/unified (") {
			t.Errorf("the covered cgroup2 mount is listed as a hierarchy: %q", e.Excerpt)
		}
	}
	if !found {
		t.Errorf("no evidence naming the covered mounts: %+v", o.Evidence)
	}
}
