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
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

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
		sum     string            // the Observation.Summary
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
			sum: "/ ext4 (/dev/vda, 80.0 GiB free); data dir on / (not created yet); kubelet dir on /",
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
			fix:   map[string]string{"KP-FS-003": "nothing to do: kprobe launch puts its data dir on a tmpfs itself; or name one: kprobe launch --data-dir /tmp/kprobe-data"},
			sum:   "/ 9p (runsc-root, 50.0 GiB free); data dir on / (not created yet); kubelet dir on /",
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
			sum:   "/ overlay (80.0 GiB free); data dir on / (not created yet); kubelet dir on /",
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
			sum:   "/ tmpfs (7.0 GiB free); data dir on / (not created yet); kubelet dir on /",
		},
		{
			name:  "low space",
			root:  tree(hostMountinfo, "var/lib/rancher/k3s"),
			sys:   &fakeSys{statfs: map[string]probes.Statfs{"/": statfsOf(0xEF53, 20*gib, 1*gib)}},
			facts: map[string]any{"fs.datadir.exists": probes.Yes, "fs.datadir.free_bytes": int64(gib)},
			codes: []string{"KP-FS-004", "KP-FS-007"},
			sum:   "/ ext4 (/dev/vda, 1.0 GiB free); data dir on /; kubelet dir on /",
		},
		{
			name:  "no space",
			root:  tree(hostMountinfo, "var/lib"),
			sys:   &fakeSys{statfs: map[string]probes.Statfs{"/": statfsOf(0xEF53, 20*gib, 100*mib)}},
			codes: []string{"KP-FS-005", "KP-FS-007"},
			sum:   "/ ext4 (/dev/vda, 100 MiB free); data dir on / (not created yet); kubelet dir on /",
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
			sum:   "/ ext4 (/dev/vda, 80.0 GiB free); data dir on /srv: xfs (90.0 GiB free); kubelet dir on /",
		},
		{
			name: "statfs overrules mountinfo",
			root: tree(hostMountinfo, "var/lib/rancher"),
			sys:  &fakeSys{statfs: map[string]probes.Statfs{"/": ext4, "/var/lib/rancher": tmpfsBig}},
			facts: map[string]any{"fs.datadir.type": "tmpfs", "fs.rancher.type": "tmpfs", "fs.datadir.block_device": probes.No,
				"fs.datadir.fstype_statfs": "tmpfs", "fs.kubelet.type": "ext4"},
			codes: []string{"KP-FS-001"},
			sum:   "/ ext4 (/dev/vda, 80.0 GiB free); data dir tmpfs (12.0 GiB free) (not created yet); kubelet dir on /",
		},
		{
			name: "fuse with zero blocks",
			root: tree(hostMountinfo+"50 27 0:70 / /var/lib/rancher rw - fuse.sshfs host:/x rw\n", "var/lib/rancher"),
			sys: &fakeSys{statfs: map[string]probes.Statfs{"/": ext4,
				"/var/lib/rancher": {Type: 0x65735546, Bsize: 4096}}},
			facts: map[string]any{"fs.datadir.type": "fuse.sshfs", "fs.datadir.kubelet_stats": probes.No, "fs.datadir.free_bytes": int64(0)},
			codes: []string{"KP-FS-001", "KP-FS-002", "KP-FS-005"},
			sum:   "/ ext4 (/dev/vda, 80.0 GiB free); data dir on /var/lib/rancher: fuse.sshfs (0 bytes free) (not created yet); kubelet dir on /",
		},
		{
			name: "mountinfo unreadable",
			root: tree("", "var/lib"),
			sys:  &fakeSys{statfs: map[string]probes.Statfs{"/": ext4}},
			facts: map[string]any{"fs.root.type": "ext4", "fs.root.block_device": probes.Unknown,
				"fs.datadir.kubelet_stats": probes.Unknown, "fs.datadir.dtype": probes.Yes},
			sum: "/ ext4 (80.0 GiB free); data dir ext4 (80.0 GiB free) (not created yet); kubelet dir ext4 (80.0 GiB free)",
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
			sum:     "/ ext4 (/dev/vda, 80.0 GiB free); data dir on /data: btrfs (200.0 GiB free); kubelet dir on /",
		},
		{
			name:    "btrfs device node hidden",
			root:    tree(hostMountinfo+"50 27 0:45 /@data /data rw - btrfs /dev/nvme0n1p3 rw,subvol=/@data\n", "data/k3s"),
			sys:     &fakeSys{statfs: map[string]probes.Statfs{"/": ext4, "/data": statfsOf(0x9123683E, 500*gib, 200*gib)}},
			dataDir: "/data/k3s",
			facts:   map[string]any{"fs.datadir.block_device": probes.No},
			codes:   []string{"KP-FS-001"},
			sum:     "/ ext4 (/dev/vda, 80.0 GiB free); data dir on /data: btrfs (200.0 GiB free); kubelet dir on /",
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
			if o.Summary != tc.sum {
				t.Errorf("summary %q\nwant    %q", o.Summary, tc.sum)
			}
			if got := strings.Join(obstest.Codes(o.Findings), ","); got != strings.Join(tc.codes, ",") {
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

// A garbled line of mountinfo costs that line, not the table.
func TestRunGarbledMountinfo(t *testing.T) {
	root := tree("x y z\n"+hostMountinfo+"1 2 3 4 5 6 7 8 9 10\n", "var/lib")
	sys := &fakeSys{statfs: map[string]probes.Statfs{"/": statfsOf(0xEF53, 250*gib, 80*gib)}}
	o, err := Probe{}.Run(context.Background(), &probes.Env{Root: root, Sys: sys})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := o.Facts.Int("fs.mount_count"); n != 20 || o.Facts.String("fs.root.type") != "ext4" || o.Facts.String("fs.root.source") != "/dev/vda" {
		t.Errorf("facts %v", o.Facts)
	}
	noted := false
	for _, ev := range o.Evidence {
		noted = noted || ev.Source == "/proc/self/mountinfo" && strings.Contains(ev.Errno, "2 malformed lines skipped")
	}
	if !noted {
		t.Errorf("skipped lines not in the evidence: %+v", o.Evidence)
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
