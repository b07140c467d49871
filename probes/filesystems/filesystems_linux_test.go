//go:build linux

package filesystems

import (
	"context"
	"io/fs"
	"path"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kprobe/kprobe/probes"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		text    string
		n, skip int
		root    string // fstype of /
	}{
		{"host", hostMountinfo, 20, 0, "ext4"},
		{"userns", usernsMountinfo, 12, 0, "ext4"},
		{"gvisor-run", gvisorRunMountinfo, 7, 0, "9p"},
		{"podman", podmanMountinfo, 7, 0, "overlay"},
		{"bwrap", bwrapMountinfo, 6, 0, "tmpfs"},
		{"garbage line kept out", "x y z\n" + hostMountinfo + "1 2 3 4 5 6 7 8 9 10\n", 20, 2, "ext4"},
		{"relative mount point", "27 1 254:0 / rel rw - ext4 /dev/vda rw\n", 0, 1, ""},
		{"empty", "", 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, skip, err := ParseMountinfo(tc.text)
			if len(ms) != tc.n || skip != tc.skip {
				t.Fatalf("got %d mounts, %d skipped (%v); want %d, %d", len(ms), skip, err, tc.n, tc.skip)
			}
			if (skip > 0) != (err != nil) {
				t.Errorf("skipped %d but err %v", skip, err)
			}
			got := ""
			if m := MountFor(ms, "/"); m != nil {
				got = m.FSType
			}
			if got != tc.root {
				t.Errorf("root type %q, want %q", got, tc.root)
			}
		})
	}
}

func TestMountFor(t *testing.T) {
	ms, _, _ := ParseMountinfo(hostMountinfo)
	for _, tc := range []struct {
		path, mountpoint string
		id               int
	}{
		{"/", "/", 27},
		{"/var/lib/rancher/k3s", "/", 27},
		{"/dev/shm/x", "/dev/shm", 30}, // 30 is stacked on 25
		{"/dev/shmem", "/dev", 24},     // prefix of a name is not containment
		{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified", 41},
		{"/sys/fs/cgroup/unified/../cpu", "/sys/fs/cgroup/cpu", 32},
	} {
		m := MountFor(ms, tc.path)
		if m == nil || m.Mountpoint != tc.mountpoint || m.ID != tc.id {
			t.Errorf("MountFor(%s) = %+v, want %s (id %d)", tc.path, m, tc.mountpoint, tc.id)
		}
	}
	if m := MountFor(nil, "/"); m != nil {
		t.Errorf("MountFor(nil) = %+v", m)
	}
	// Stacked mounts listed top first: the parent relation decides.
	rev, _, _ := ParseMountinfo("30 25 0:27 / /dev/shm rw - tmpfs tmpfs rw\n25 1 0:23 / /dev/shm rw - tmpfs tmpfs rw\n")
	if m := MountFor(rev, "/dev/shm"); m == nil || m.ID != 30 {
		t.Errorf("stacked, top first: got %+v, want id 30", m)
	}
}

func TestNearestExistingAndRealPath(t *testing.T) {
	root := fstest.MapFS{
		"var/lib":          {Mode: fs.ModeDir | 0o755},
		"data/rancher/k3s": {Mode: fs.ModeDir | 0o755},
		"var/lib/rancher":  {Mode: fs.ModeSymlink | 0o777, Data: []byte("/data/rancher")},
		"var/lib/kubelet":  {Mode: fs.ModeSymlink | 0o777, Data: []byte("../../data/kubelet")},
		"data/kubelet":     {Mode: fs.ModeDir | 0o755},
		"loop/a":           {Mode: fs.ModeSymlink | 0o777, Data: []byte("b")},
		"loop/b":           {Mode: fs.ModeSymlink | 0o777, Data: []byte("a")},
		"etc/mtab":         {Data: []byte("x")},
	}
	for _, tc := range []struct {
		in, existing string
		exists       bool
		real         string
	}{
		{"/var/lib/rancher/k3s", "/data/rancher/k3s", true, "/data/rancher/k3s"},
		{"/var/lib/rancher/k3s/agent", "/data/rancher/k3s", false, "/data/rancher/k3s/agent"},
		{"/var/lib/kubelet", "/data/kubelet", true, "/data/kubelet"},
		{"/srv/nothing/here", "/", false, "/srv/nothing/here"},
		{"/", "/", true, "/"},
		{"/etc/mtab/x", "/etc/mtab", false, "/etc/mtab/x"},
		{"/var/./lib/../lib/rancher", "/data/rancher", true, "/data/rancher"},
	} {
		r := RealPath(root, tc.in)
		if r != tc.real {
			t.Errorf("RealPath(%s) = %s, want %s", tc.in, r, tc.real)
		}
		ex, ok := NearestExisting(root, r)
		if ex != tc.existing || ok != tc.exists {
			t.Errorf("NearestExisting(%s) = %s, %v; want %s, %v", r, ex, ok, tc.existing, tc.exists)
		}
	}
	// Every name is a link to a longer relative path: resolution must stop.
	if r := RealPath(loopFS{}, "/a/x"); r == "" {
		t.Errorf("RealPath of an endless link chain = %q", r)
	}
}

// loopFS is a tree where every name is a symlink to "a/b".
type loopFS struct{}

func (loopFS) Open(name string) (fs.File, error)      { return nil, fs.ErrNotExist }
func (loopFS) ReadLink(string) (string, error)        { return "a/b", nil }
func (loopFS) Lstat(name string) (fs.FileInfo, error) { return linkInfo(path.Base(name)), nil }

type linkInfo string

func (l linkInfo) Name() string     { return string(l) }
func (linkInfo) Size() int64        { return 3 }
func (linkInfo) Mode() fs.FileMode  { return fs.ModeSymlink | 0o777 }
func (linkInfo) ModTime() time.Time { return time.Time{} }
func (linkInfo) IsDir() bool        { return false }
func (linkInfo) Sys() any           { return nil }

func TestNames(t *testing.T) {
	for magic, want := range map[int64]string{
		0xEF53: "ext4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x2FC12FC1: "zfs", 0x01021994: "tmpfs",
		0x794C7630: "overlay", 0x01021997: "9p", 0x65735546: "fuse", 0x6969: "nfs", 0x6a656a63: "virtiofs",
		0x73717368: "squashfs", 0x858458f6: "ramfs", 0x12345678: "0x12345678",
		int64(int32(-0x6edc97c2)): "btrfs", // 0x9123683E sign-extended by a 32-bit statfs
	} {
		if got := MagicName(magic); got != want {
			t.Errorf("MagicName(%#x) = %s, want %s", magic, got, want)
		}
	}
	for in, want := range map[string]string{"ext3": "ext4", "fuse.sshfs": "fuse", "fuseblk": "fuse", "nfs4": "nfs", "xfs": "xfs", "9p": "9p"} {
		if got := Family(in); got != want {
			t.Errorf("Family(%s) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]probes.Tri{
		"meta-data=/dev/sdb1 isize=512\nnaming   =version 2              bsize=4096   ascii-ci=0, ftype=1\n": probes.Yes,
		"naming   =version 2              bsize=4096   ascii-ci=0 ftype=0\n":                                 probes.No,
		"": probes.Unknown, "ftype=12": probes.Unknown,
	} {
		if got := XfsFtype(in); got != want {
			t.Errorf("XfsFtype(%q) = %v, want %v", in, got, want)
		}
	}
}

func codes(o *probes.Observation) []string {
	var cs []string
	for _, f := range o.Findings {
		cs = append(cs, f.Code)
	}
	return cs
}

func TestRun(t *testing.T) {
	ext4 := statfsOf(0xEF53, 250*gib, 80*gib)
	tmpfsBig := statfsOf(0x01021994, 12*gib, 12*gib)
	for _, tc := range []struct {
		name    string
		root    fs.FS
		sys     *fakeSys
		dataDir string
		facts   map[string]any
		codes   []string
		fix     map[string]string // code -> fix
	}{
		{
			name: "host ext4, data dir not created yet",
			root: tree(hostMountinfo, "var/lib", "tmp"),
			sys:  &fakeSys{statfs: map[string]probes.Statfs{"/": ext4}},
			facts: map[string]any{
				"fs.mount_count": int64(20), "fs.root.type": "ext4", "fs.root.source": "/dev/vda",
				"fs.root.fstype_statfs": "ext4", "fs.root.block_device": probes.Yes, "fs.root.free_bytes": int64(80 * gib),
				"fs.datadir.path": "/var/lib/rancher/k3s", "fs.datadir.exists": probes.No, "fs.datadir.existing": "/var/lib",
				"fs.datadir.mountpoint": "/", "fs.datadir.type": "ext4", "fs.datadir.kubelet_stats": probes.Yes,
				"fs.datadir.dtype": probes.Yes, "fs.datadir.overlay_upper": probes.Yes,
				"fs.kubelet.type": "ext4", "fs.kubelet.kubelet_stats": probes.Yes, "fs.rancher.type": "ext4",
			},
		},
		{
			name: "gVisor 9p root",
			root: tree(gvisorRunMountinfo, "var/lib", "tmp"),
			sys: &fakeSys{statfs: map[string]probes.Statfs{
				"/": statfsOf(0x01021997, 100*gib, 50*gib), "/tmp": tmpfsBig}},
			facts: map[string]any{
				"fs.root.type": "9p", "fs.root.source": "runsc-root", "fs.root.block_device": probes.No,
				"fs.datadir.type": "9p", "fs.datadir.kubelet_stats": probes.No, "fs.kubelet.kubelet_stats": probes.No,
				"fs.datadir.overlay_upper": probes.No, "fs.datadir.dtype": probes.Unknown,
			},
			codes: []string{"KP-FS-001", "KP-FS-002", "KP-FS-003"},
			fix:   map[string]string{"KP-FS-003": "--data-dir /tmp/k3s-data"},
		},
		{
			name: "podman overlay root",
			root: tree(podmanMountinfo, "var/lib"),
			sys:  &fakeSys{statfs: map[string]probes.Statfs{"/": statfsOf(0x794C7630, 250*gib, 80*gib)}},
			facts: map[string]any{
				"fs.root.type": "overlay", "fs.root.block_device": probes.No,
				"fs.datadir.kubelet_stats": probes.Unknown, "fs.datadir.overlay_upper": probes.No,
			},
			codes: []string{"KP-FS-002"},
		},
		{
			name: "bwrap tmpfs root, small",
			root: tree(bwrapMountinfo, "tmp"),
			sys: &fakeSys{statfs: map[string]probes.Statfs{
				"/": statfsOf(0x01021994, 8*gib, 7*gib), "/tmp": statfsOf(0x01021994, 8*gib, 7*gib)}},
			facts: map[string]any{
				"fs.root.type": "tmpfs", "fs.datadir.existing": "/", "fs.datadir.exists": probes.No,
				"fs.datadir.kubelet_stats": probes.No, "fs.datadir.dtype": probes.Yes, "fs.datadir.overlay_upper": probes.Yes,
			},
			codes: []string{"KP-FS-001"},
		},
		{
			name:  "low space",
			root:  tree(hostMountinfo, "var/lib/rancher/k3s"),
			sys:   &fakeSys{statfs: map[string]probes.Statfs{"/": statfsOf(0xEF53, 20*gib, 1*gib)}},
			facts: map[string]any{"fs.datadir.exists": probes.Yes, "fs.datadir.free_bytes": int64(gib)},
			codes: []string{"KP-FS-004", "KP-FS-007"},
		},
		{
			name:  "no space",
			root:  tree(hostMountinfo, "var/lib"),
			sys:   &fakeSys{statfs: map[string]probes.Statfs{"/": statfsOf(0xEF53, 20*gib, 100*mib)}},
			codes: []string{"KP-FS-005", "KP-FS-007"},
		},
		{
			name: "xfs ftype=0 data dir",
			root: tree(hostMountinfo+"50 27 8:16 / /srv rw,relatime - xfs /dev/sdb rw\n", "srv/k3s"),
			sys: &fakeSys{statfs: map[string]probes.Statfs{"/": ext4, "/srv": statfsOf(0x58465342, 100*gib, 90*gib)},
				path: map[string]string{"xfs_info": "/usr/sbin/xfs_info"},
				exec: map[string]probes.ExecResult{"xfs_info /srv/k3s": {Stdout: "naming   =version 2   bsize=4096   ascii-ci=0, ftype=0\n"}}},
			dataDir: "/srv/k3s",
			facts: map[string]any{"fs.datadir.type": "xfs", "fs.datadir.mountpoint": "/srv", "fs.datadir.dtype": probes.No,
				"fs.datadir.block_device": probes.Yes, "fs.datadir.kubelet_stats": probes.Yes, "fs.kubelet.type": "ext4"},
			codes: []string{"KP-FS-006"},
		},
		{
			name: "statfs overrules mountinfo",
			root: tree(hostMountinfo, "var/lib/rancher"),
			sys:  &fakeSys{statfs: map[string]probes.Statfs{"/": ext4, "/var/lib/rancher": tmpfsBig}},
			facts: map[string]any{"fs.datadir.type": "tmpfs", "fs.rancher.type": "tmpfs", "fs.datadir.block_device": probes.No,
				"fs.datadir.fstype_statfs": "tmpfs", "fs.kubelet.type": "ext4"},
			codes: []string{"KP-FS-001"},
		},
		{
			name: "fuse with zero blocks",
			root: tree(hostMountinfo+"50 27 0:70 / /var/lib/rancher rw - fuse.sshfs host:/x rw\n", "var/lib/rancher"),
			sys: &fakeSys{statfs: map[string]probes.Statfs{"/": ext4,
				"/var/lib/rancher": {Type: 0x65735546, Bsize: 4096}}},
			facts: map[string]any{"fs.datadir.type": "fuse.sshfs", "fs.datadir.kubelet_stats": probes.No, "fs.datadir.free_bytes": int64(0)},
			codes: []string{"KP-FS-001", "KP-FS-002", "KP-FS-005"},
		},
		{
			name: "mountinfo unreadable",
			root: tree("", "var/lib"),
			sys:  &fakeSys{statfs: map[string]probes.Statfs{"/": ext4}},
			facts: map[string]any{"fs.root.type": "ext4", "fs.root.block_device": probes.Unknown,
				"fs.datadir.kubelet_stats": probes.Unknown, "fs.datadir.dtype": probes.Yes},
		},
		{
			name: "btrfs with its device node visible",
			root: func() fs.FS {
				m := tree(hostMountinfo+"50 27 0:45 /@data /data rw - btrfs /dev/nvme0n1p3 rw,subvol=/@data\n", "data/k3s")
				m["dev/nvme0n1p3"] = &fstest.MapFile{Mode: fs.ModeDevice | 0o660}
				return m
			}(),
			sys:     &fakeSys{statfs: map[string]probes.Statfs{"/": ext4, "/data": statfsOf(0x9123683E, 500*gib, 200*gib)}},
			dataDir: "/data/k3s",
			facts:   map[string]any{"fs.datadir.type": "btrfs", "fs.datadir.block_device": probes.Yes, "fs.datadir.kubelet_stats": probes.No},
			codes:   []string{"KP-FS-001"},
		},
		{
			name:    "btrfs device node hidden",
			root:    tree(hostMountinfo+"50 27 0:45 /@data /data rw - btrfs /dev/nvme0n1p3 rw,subvol=/@data\n", "data/k3s"),
			sys:     &fakeSys{statfs: map[string]probes.Statfs{"/": ext4, "/data": statfsOf(0x9123683E, 500*gib, 200*gib)}},
			dataDir: "/data/k3s",
			facts:   map[string]any{"fs.datadir.block_device": probes.No},
			codes:   []string{"KP-FS-001"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := &probes.Env{Root: tc.root, Sys: tc.sys, DataDir: tc.dataDir}
			o, err := Probe{}.Run(context.Background(), env)
			if err != nil {
				t.Fatal(err)
			}
			specs := map[string]probes.FactSpec{}
			for _, s := range (Probe{}).Facts() {
				specs[s.Key] = s
			}
			for k, v := range o.Facts {
				if _, ok := specs[k]; !ok {
					t.Errorf("undeclared fact %s", k)
				} else if _, err := probes.Coerce(specs[k], v); err != nil {
					t.Errorf("fact %s: %v", k, err)
				}
			}
			for k, want := range tc.facts {
				if got, ok := o.Facts[k]; !ok || probes.Format(got) != probes.Format(want) {
					t.Errorf("%s = %v, want %v", k, probes.Format(got), probes.Format(want))
				}
			}
			if got := strings.Join(codes(o), ","); got != strings.Join(tc.codes, ",") {
				t.Errorf("codes %s, want %s\n%+v", got, strings.Join(tc.codes, ","), o.Findings)
			}
			for _, f := range o.Findings {
				if want, ok := tc.fix[f.Code]; ok && f.Fix != want {
					t.Errorf("%s fix %q, want %q", f.Code, f.Fix, want)
				}
				if f.Evidence.Excerpt == "" {
					t.Errorf("%s has no evidence", f.Code)
				}
			}
		})
	}
}

func TestDeclarations(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range (Probe{}).Codes() {
		if seen[c.Code] || !strings.HasPrefix(c.Code, "KP-FS-") || c.Fix == "" || c.Meaning == "" || c.Title == "" {
			t.Errorf("bad code %+v", c)
		}
		seen[c.Code] = true
	}
	keys := map[string]bool{}
	for _, s := range (Probe{}).Facts() {
		if keys[s.Key] || s.Doc == "" {
			t.Errorf("bad fact spec %+v", s)
		}
		keys[s.Key] = true
	}
	for _, k := range []string{"fs.root.type", "fs.root.fstype_statfs", "fs.root.block_device", "fs.root.free_bytes",
		"fs.datadir.path", "fs.datadir.type", "fs.datadir.free_bytes", "fs.datadir.dtype", "fs.datadir.kubelet_stats",
		"fs.kubelet.type", "fs.rancher.type"} {
		if !keys[k] {
			t.Errorf("contract fact %s not declared", k)
		}
	}
	if !probes.ValidID(Probe{}.ID()) {
		t.Error("bad ID")
	}
}

func FuzzParseMountinfo(f *testing.F) {
	for _, s := range []string{hostMountinfo, usernsMountinfo, gvisorRunMountinfo, podmanMountinfo, bwrapMountinfo,
		"1 1 a:b \\ \\134 x y - - - -\n", "- - - - - - - - - -", "1 2 3:4 / / rw shared:1 master:2 - ext4 /dev/x rw\n"} {
		f.Add(s, "/var/lib/rancher/k3s")
	}
	f.Fuzz(func(t *testing.T, text, p string) {
		ms, skipped, err := ParseMountinfo(text)
		if skipped > 0 && err == nil {
			t.Fatal("skipped lines without an error")
		}
		for _, m := range ms {
			if !strings.HasPrefix(m.Mountpoint, "/") {
				t.Fatalf("relative mount point %q", m.Mountpoint)
			}
		}
		if m := MountFor(ms, p); m != nil && !contains(cleanAbs(m.Mountpoint), cleanAbs(p)) {
			t.Fatalf("MountFor(%q) = %q", p, m.Mountpoint)
		}
	})
}

func FuzzRun(f *testing.F) {
	f.Add(hostMountinfo, "/var/lib/rancher/k3s", int64(0xEF53), uint64(10), uint64(5))
	f.Add(gvisorRunMountinfo, "rel/dir", int64(0x01021997), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, text, dataDir string, magic int64, blocks, avail uint64) {
		root := fstest.MapFS{"proc/self/mountinfo": {Data: []byte(text)}}
		sys := &fakeSys{statfs: map[string]probes.Statfs{"/": {Type: magic, Bsize: 4096, Blocks: blocks, Bavail: avail}}}
		o, err := Probe{}.Run(context.Background(), &probes.Env{Root: root, Sys: sys, DataDir: dataDir})
		if err != nil || o == nil {
			t.Fatalf("Run: %v", err)
		}
	})
}
