package procfs

import (
	"errors"
	"os"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func readDump(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dumps are the tables in testdata: how many mounts each has and one line
// of each, fully parsed.
var dumps = []struct {
	name string
	n    int
	want mountinfo.Info // a line of the dump with ID want.ID
}{
	{"host", 21, mountinfo.Info{ID: 42, Parent: 27, Major: 254, Minor: 0, Root: "/run/netns", Mountpoint: "/run/netns",
		Options: "rw,relatime", Optional: "shared:1", FSType: "ext4", Source: "/dev/vda",
		VFSOptions: "rw,discard,resv_strict,resuid=65534,resgid=65534"}},
	{"userns", 12, mountinfo.Info{ID: 58, Parent: 48, Major: 0, Minor: 38, Root: "/", Mountpoint: "/sys/fs/cgroup/unified",
		Options: "rw,relatime", FSType: "cgroup2", Source: "cgroup2", VFSOptions: "rw"}},
	{"gvisor-run", 7, mountinfo.Info{ID: 1, Parent: 0, Major: 0, Minor: 2, Root: "/", Mountpoint: "/",
		Options: "rw,relatime", FSType: "9p", Source: "runsc-root", VFSOptions: "rw,trans=fd,rfd=3,wfd=3,cache=fscache"}},
	{"podman", 7, mountinfo.Info{ID: 596, Parent: 590, Major: 0, Minor: 49, Root: "/containers/1f/userdata/.containerenv",
		Mountpoint: "/run/.containerenv", Options: "rw,nosuid,nodev", FSType: "tmpfs", Source: "tmpfs", VFSOptions: "rw,size=2467000k,mode=755"}},
	{"bwrap", 6, mountinfo.Info{ID: 701, Parent: 700, Major: 254, Minor: 0, Root: "/usr", Mountpoint: "/usr",
		Options: "ro,nosuid,nodev,relatime", FSType: "ext4", Source: "/dev/vda", VFSOptions: "rw"}},
	{"runc-docker", 13, mountinfo.Info{ID: 616, Parent: 607, Major: 0, Minor: 37, Root: "/", Mountpoint: "/sys/fs/cgroup/systemd",
		Options: "ro,nosuid,nodev,noexec,relatime", FSType: "cgroup", Source: "cgroup", VFSOptions: "rw,name=systemd"}},
	{"docker-cgroupns-v2", 3, mountinfo.Info{ID: 700, Parent: 650, Major: 0, Minor: 50, Root: "/", Mountpoint: "/",
		Options: "rw,relatime", FSType: "overlay", Source: "overlay", VFSOptions: "rw,lowerdir=/l,upperdir=/u,workdir=/w"}},
	// Real: a cgroup2 mount covered by a later tmpfs (see TestVisible).
	{"runc-rootless", 42, mountinfo.Info{ID: 275, Parent: 222, Major: 0, Minor: 38, Root: "/", Mountpoint: "/sys/fs/cgroup/unified",
		Options: "rw,relatime", FSType: "cgroup2", Source: "cgroup2", VFSOptions: "rw"}},
	// Real: tmpfs mounts with an empty source, a source with spaces, and
	// mount points with a space, a tab and a backslash.
	{"escapes", 24, mountinfo.Info{ID: 85, Parent: 64, Major: 0, Minor: 40, Root: "/", Mountpoint: "/tmp/kprobe-mi/tab\tx",
		Options: "rw,relatime", Optional: "shared:1", FSType: "tmpfs", Source: "src with space", VFSOptions: "rw"}},
}

func TestParseMountinfoDumps(t *testing.T) {
	for _, d := range dumps {
		t.Run(d.name, func(t *testing.T) {
			ms, err := ParseMountinfo(strings.NewReader(readDump(t, d.name)))
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != d.n {
				t.Errorf("%d mounts, want %d", len(ms), d.n)
			}
			var got *mountinfo.Info
			for _, m := range ms {
				if m.ID == d.want.ID {
					got = m
				}
			}
			if got == nil || *got != d.want {
				t.Errorf("mount %d:\n got %+v\nwant %+v", d.want.ID, got, d.want)
			}
		})
	}
}

func TestParseMountinfoEscapes(t *testing.T) {
	ms, err := ParseMountinfo(strings.NewReader(readDump(t, "escapes")))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int]*mountinfo.Info{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	for id, want := range map[int][3]string{ // root, mount point, source
		84: {"/", "/tmp/kprobe-mi/a b", ""},
		86: {"/", `/tmp/kprobe-mi/back\slash`, ""},
		87: {"/sub", "/tmp/kprobe-mi/a b/sub", ""},
	} {
		m := byID[id]
		if m == nil || [3]string{m.Root, m.Mountpoint, m.Source} != want || m.FSType != "tmpfs" || m.VFSOptions != "rw" {
			t.Errorf("mount %d = %+v, want root, mount point, source %q", id, m, want)
		}
	}
}

func TestParseMountinfoShapes(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []mountinfo.Info
		skipped    int
	}{
		{"optional fields", "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n",
			[]mountinfo.Info{{ID: 36, Parent: 35, Major: 98, Root: "/mnt1", Mountpoint: "/mnt2", Options: "rw,noatime",
				Optional: "master:1 shared:7", FSType: "ext3", Source: "/dev/root", VFSOptions: "rw,errors=continue"}}, 0},
		{"no super options (old kernels)", "1 0 0:1 / / rw - rootfs rootfs\n",
			[]mountinfo.Info{{ID: 1, Minor: 1, Root: "/", Mountpoint: "/", Options: "rw", FSType: "rootfs", Source: "rootfs"}}, 0},
		{"spaces in super options (cifs, Linux <= 3.9)", "5 1 0:9 / /srv rw - cifs //srv/My\\040Docs rw,unc=//srv/My Docs\n",
			[]mountinfo.Info{{ID: 5, Parent: 1, Minor: 9, Root: "/", Mountpoint: "/srv", Options: "rw", FSType: "cifs",
				Source: "//srv/My Docs", VFSOptions: "rw,unc=//srv/My Docs"}}, 0},
		{"escape only up to \\177", `1 0 0:1 / /a\200\04 rw - tmpfs t\0 rw` + "\n",
			[]mountinfo.Info{{ID: 1, Minor: 1, Root: "/", Mountpoint: `/a\200\04`, Options: "rw", FSType: "tmpfs", Source: `t\0`, VFSOptions: "rw"}}, 0},
		{"CRLF and blank lines", "\r\n1 0 0:1 / / rw - ext4 /dev/sda1 rw\r\n\n",
			[]mountinfo.Info{{ID: 1, Minor: 1, Root: "/", Mountpoint: "/", Options: "rw", FSType: "ext4", Source: "/dev/sda1", VFSOptions: "rw"}}, 0},
		{"empty", "", nil, 0},
		{"garbage around a good line", "x y z\n1 0 0:1 / / rw - ext4 /dev/sda1 rw\n1 2 3 4 5 6 7 8 9 10\n",
			[]mountinfo.Info{{ID: 1, Minor: 1, Root: "/", Mountpoint: "/", Options: "rw", FSType: "ext4", Source: "/dev/sda1", VFSOptions: "rw"}}, 2},
		{"no separator", "1 0 0:1 / / rw ext4 /dev/sda1 rw\n", nil, 1},
		{"separator but no fstype", "1 0 0:1 / / rw -\n", nil, 1},
		{"fstype but no source", "1 0 0:1 / / rw - ext4\n", nil, 1},
		{"relative mount point", "27 1 254:0 / rel rw - ext4 /dev/vda rw\n", nil, 1},
		{"IDs not numbers", "a 1 254:0 / / rw - ext4 /dev/vda rw\n", nil, 1},
		{"no major:minor", "27 1 2540 / / rw - ext4 /dev/vda rw\n", nil, 1},
		{"double space in the mandatory fields", "27 1 254:0 /  / rw - ext4 /dev/vda rw\n", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := ParseMountinfo(strings.NewReader(tc.text))
			var got []mountinfo.Info
			for _, m := range ms {
				got = append(got, *m)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			var bad *MalformedError
			switch {
			case tc.skipped == 0 && err != nil:
				t.Errorf("err = %v", err)
			case tc.skipped > 0 && !errors.As(err, &bad):
				t.Errorf("err = %v, want a *MalformedError", err)
			case tc.skipped > 0 && bad.Skipped != tc.skipped:
				t.Errorf("skipped %d, want %d (%v)", bad.Skipped, tc.skipped, err)
			}
		})
	}
}

func TestMalformedError(t *testing.T) {
	_, err := ParseMountinfo(strings.NewReader("1 0 0:1 / / rw - ext4 /dev/sda1 rw\n\nx y z\n" + strings.Repeat("y", 200) + "\n"))
	want := `mountinfo line 3: too few fields: "x y z" (2 malformed lines skipped)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	_, err = ParseMountinfo(strings.NewReader(strings.Repeat("y", 200)))
	if err == nil || len(err.Error()) > 180 || strings.Contains(err.Error(), "skipped") {
		t.Errorf("one long bad line: %v", err)
	}
}

func TestMountFor(t *testing.T) {
	for name, want := range map[string]string{ // fstype of /
		"host": "ext4", "userns": "ext4", "gvisor-run": "9p", "podman": "overlay", "bwrap": "tmpfs",
		"runc-docker": "ext4", "docker-cgroupns-v2": "overlay",
	} {
		ms, _ := ParseMountinfo(strings.NewReader(readDump(t, name)))
		if m := MountFor(ms, "/"); m == nil || m.FSType != want {
			t.Errorf("%s: / is %+v, want %s", name, m, want)
		}
	}

	ms, _ := ParseMountinfo(strings.NewReader(readDump(t, "host")))
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
		{"run/netns/x", "/run/netns", 42},
	} {
		m := MountFor(ms, tc.path)
		if m == nil || m.Mountpoint != tc.mountpoint || m.ID != tc.id {
			t.Errorf("MountFor(%s) = %+v, want %s (id %d)", tc.path, m, tc.mountpoint, tc.id)
		}
	}
	if m := MountFor(nil, "/"); m != nil {
		t.Errorf("MountFor(nil) = %+v", m)
	}
	// Stacked mounts: listed top first, the parent relation decides;
	// otherwise the later line is the newer mount.
	for text, id := range map[string]int{
		"30 25 0:27 / /dev/shm rw - tmpfs tmpfs rw\n25 1 0:23 / /dev/shm rw - tmpfs tmpfs rw\n": 30,
		"1 0 0:1 / / rw - rootfs rootfs rw\n20 1 8:1 / / rw - ext4 /dev/sda1 rw\n":              20,
	} {
		ms, _ := ParseMountinfo(strings.NewReader(text))
		if m := MountFor(ms, "/dev/shm"); m == nil || m.ID != id {
			t.Errorf("stacked %q: got %+v, want id %d", text, m, id)
		}
	}
}

func TestVisible(t *testing.T) {
	ids := func(ms []*mountinfo.Info) map[int]bool {
		out := map[int]bool{}
		for _, m := range ms {
			out[m.ID] = true
		}
		return out
	}
	// Real, rootless runc: the host's /sys is bound with its cgroup tree
	// (222-275, cgroup2 at /sys/fs/cgroup/unified), then runc mounts its
	// own tmpfs on /sys/fs/cgroup (276) with read-only v1 binds; inside,
	// /sys/fs/cgroup/unified does not exist.
	ms, err := ParseMountinfo(strings.NewReader(readDump(t, "runc-rootless")))
	if err != nil {
		t.Fatal(err)
	}
	vis := ids(Visible(ms))
	for id := 222; id <= 285; id++ {
		if id > 230 && id < 274 {
			continue
		}
		if want := id >= 276; vis[id] != want {
			t.Errorf("runc-rootless: mount %d visible = %v, want %v", id, vis[id], want)
		}
	}
	if len(vis) != len(ms)-11 {
		t.Errorf("runc-rootless: %d of %d mounts visible, want all but the 11 under the first /sys/fs/cgroup", len(vis), len(ms))
	}
	if m := MountFor(ms, "/sys/fs/cgroup/unified"); m == nil || m.ID != 276 {
		t.Errorf("runc-rootless: MountFor(/sys/fs/cgroup/unified) = %+v, want the tmpfs 276", m)
	}
	if m := MountFor(ms, "/sys/fs/cgroup/pids/x"); m == nil || m.ID != 284 {
		t.Errorf("runc-rootless: MountFor(/sys/fs/cgroup/pids/x) = %+v, want the read-only bind 284", m)
	}

	// Real, the host: /proc, /sys and /dev (22-26) are listed before the
	// root mount (27) that holds them, and an ancestor covers nothing; the
	// first /dev/shm and /dev/pts (25, 26) have others stacked on them.
	ms, _ = ParseMountinfo(strings.NewReader(readDump(t, "host")))
	vis = ids(Visible(ms))
	for _, m := range ms {
		if want := m.ID != 25 && m.ID != 26; vis[m.ID] != want {
			t.Errorf("host: mount %d (%s) visible = %v, want %v", m.ID, m.Mountpoint, vis[m.ID], want)
		}
	}

	for _, tc := range []struct {
		name, text string
		visible    []int
	}{
		{"stacked, top listed first", "30 25 0:27 / /dev/shm rw - tmpfs tmpfs rw\n25 1 0:23 / /dev/shm rw - tmpfs tmpfs rw\n", []int{30}},
		{"stacked on the root", "1 0 0:1 / / rw - rootfs rootfs rw\n20 1 8:1 / / rw - ext4 /dev/sda1 rw\n", []int{20}},
		{"a newer unrelated mount above", "1 0 8:1 / / rw - ext4 a rw\n2 1 0:2 / /a/b rw - tmpfs t rw\n3 1 0:3 / /a rw - tmpfs t rw\n", []int{1, 3}},
		{"an older unrelated mount above", "1 0 8:1 / / rw - ext4 a rw\n3 1 0:3 / /a rw - tmpfs t rw\n2 1 0:2 / /a/b rw - tmpfs t rw\n", []int{1, 3, 2}},
		{"a child inside", "1 0 8:1 / / rw - ext4 a rw\n2 1 0:2 / /a rw - tmpfs t rw\n3 2 0:3 / /a/b rw - tmpfs t rw\n", []int{1, 2, 3}},
		{"a prefix of a name is not above", "1 0 8:1 / / rw - ext4 a rw\n2 1 0:2 / /ab rw - tmpfs t rw\n3 1 0:3 / /a rw - tmpfs t rw\n", []int{1, 2, 3}},
		{"a parent loop", "5 6 0:5 / /x rw - tmpfs t rw\n6 5 0:6 / /x rw - tmpfs t rw\n", nil},
		{"its own parent", "7 7 0:7 / / rw - tmpfs t rw\n", []int{7}},
	} {
		ms, err := ParseMountinfo(strings.NewReader(tc.text))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []int
		for _, m := range Visible(ms) {
			got = append(got, m.ID)
		}
		if !reflect.DeepEqual(got, tc.visible) {
			t.Errorf("%s: visible %v, want %v", tc.name, got, tc.visible)
		}
	}
}

func FuzzParseMountinfo(f *testing.F) {
	for _, d := range dumps {
		f.Add(readDump(f, d.name))
	}
	for _, s := range []string{
		"1 0 0:1 / / rw -\n- - - - - - -\n",
		"1 1 a:b \\ \\134 x y - - - -\n",
		"1 2 3:4 / / rw shared:1 master:2 - ext4 /dev/x rw\n",
		`40 27 0:50 /a\040b /mnt/x\040y rw master:1 - tmpfs  rw` + "\n",
		"0 0 0:0  /  - 0  \r\r",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ms, err := ParseMountinfo(strings.NewReader(text))
		if m := MountFor(ms, "/var/lib/rancher/k3s"); m != nil && !contains(path.Clean(m.Mountpoint), "/var/lib/rancher/k3s") {
			t.Fatalf("MountFor = %q", m.Mountpoint)
		}
		lines := strings.Count(text, "\n") + 1
		var bad *MalformedError
		if err != nil && errors.As(err, &bad) && (bad.Skipped < 1 || bad.Line < 1 || bad.Line > lines || len(ms)+bad.Skipped > lines) {
			t.Fatalf("%+v from %d lines", bad, lines)
		}
		if len(ms) > lines {
			t.Fatalf("%d mounts from %d lines", len(ms), lines)
		}
		for _, m := range ms {
			if !strings.HasPrefix(m.Mountpoint, "/") || m.FSType == "" || m.ID < 0 || m.Parent < 0 || m.Major < 0 || m.Minor < 0 {
				t.Fatalf("bad mount %+v", m)
			}
			if len(m.Mountpoint) > len(text) || len(m.Root) > len(text) {
				t.Fatalf("unescaping grew %+v", m)
			}
		}
		if err == nil {
			sameAsMoby(t, text, ms)
		}
	})
}
