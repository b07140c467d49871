package overlay

import (
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/filesystems"
	"github.com/kprobe/kprobe/probes/probetest/obstest"
)

// hostFilesystems is /proc/filesystems of this project's Firecracker VM
// (kernel 6.18.44-fc-v782).
const hostFilesystems = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\nnodev\tcpuset\n" +
	"nodev\tdevtmpfs\nnodev\tbinfmt_misc\nnodev\tdebugfs\nnodev\ttracefs\nnodev\tsecurityfs\nnodev\tsockfs\n" +
	"nodev\tbpf\nnodev\tpipefs\nnodev\tramfs\nnodev\thugetlbfs\nnodev\tdevpts\n\text3\n\text2\n\text4\n" +
	"\tsquashfs\nnodev\tautofs\n\tfuseblk\nnodev\tfuse\nnodev\tfusectl\nnodev\toverlay\n\txfs\n\terofs\n" +
	"nodev\tmqueue\n\tbtrfs\nnodev\tpstore\n"

// gvisorFilesystems has the ten entries sandbox-zoo.md lists for gVisor:
// 9p, overlay, fuse, cgroup (v1), no cgroup2.
const gvisorFilesystems = "nodev\t9p\nnodev\tcgroup\nnodev\tdevpts\nnodev\tdevtmpfs\nnodev\tfuse\n" +
	"nodev\tmqueue\nnodev\toverlay\nnodev\tproc\nnodev\tsysfs\nnodev\ttmpfs\n"

func TestParseFilesystems(t *testing.T) {
	h := ParseFilesystems(hostFilesystems)
	if len(h) != 31 || !h["overlay"] || !h["ext4"] || !h["cgroup2"] || h["9p"] || h["nodev"] {
		t.Errorf("host: %d entries %v", len(h), h)
	}
	g := ParseFilesystems(gvisorFilesystems)
	if len(g) != 10 || !g["overlay"] || !g["9p"] || g["cgroup2"] {
		t.Errorf("gvisor: %d entries %v", len(g), g)
	}
	if n := len(ParseFilesystems("nodev\n\n \t \nnodev overlay extra\nweird line here\n")); n != 0 {
		t.Errorf("garbage gave %d entries", n)
	}
}

func TestSteps(t *testing.T) {
	for _, tc := range []struct {
		line           string
		mounted, white probes.Tri
		failure        string
	}{
		{"private=ok tmpfs=ok prepare=ok mount=ok write=ok whiteout=ok umount=ok umount_tmpfs=ok", probes.Yes, probes.Yes, ""},
		{"private=ok prepare=ok mount=EINVAL", probes.No, probes.Unknown, "mount: EINVAL"}, // podman: overlay on overlay
		{"private=EINVAL tmpfs=EPERM", probes.No, probes.Unknown, "private: EINVAL"},       // gVisor in a userns
		{"private=ok prepare=EACCES", probes.Unknown, probes.Unknown, "prepare: EACCES"},
		{"private=ok tmpfs=ok prepare=ok mount=ok write=ok whiteout=EPERM umount=ok", probes.Yes, probes.No, "whiteout: EPERM"},
		{"", probes.Unknown, probes.Unknown, ""},
		{"=x mount= junk mount=ok", probes.Yes, probes.Unknown, ""},
	} {
		s := filesystems.ParseSteps(tc.line)
		if got := Mounted(s); got != tc.mounted {
			t.Errorf("%q: Mounted = %v, want %v", tc.line, got, tc.mounted)
		}
		if got := s.Tri("whiteout"); got != tc.white {
			t.Errorf("%q: whiteout = %v, want %v", tc.line, got, tc.white)
		}
		if got := s.Failure(); got != tc.failure {
			t.Errorf("%q: Failure = %q, want %q", tc.line, got, tc.failure)
		}
		if tc.line != "" && !strings.HasPrefix(tc.line, "=") && s.String() != tc.line {
			t.Errorf("round trip %q -> %q", tc.line, s.String())
		}
	}
	var s filesystems.Steps
	s.Add("a", nil)
	s.Add("b", errString("open x: some thing"))
	if got := filesystems.ParseSteps(s.String()); got.Result["b"] != "open_x:_some_thing" || got.Result["a"] != "ok" {
		t.Errorf("error text with spaces: %q -> %+v", s.String(), got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestJudge(t *testing.T) {
	y, n, u := probes.Yes, probes.No, probes.Unknown
	for _, tc := range []struct {
		name  string
		facts map[string]probes.Tri
		codes string
		fix   string
		sum   string
	}{
		{"host: everything works", map[string]probes.Tri{"overlay.mount_tmpfs": y, "overlay.mount_datadir": y,
			"overlay.userns_tmpfs": y, "overlay.userns_datadir": y, "overlay.userns_whiteout": y}, "", "",
			"mounts on tmpfs and the data dir, also in a user namespace; fuse-overlayfs unknown, /dev/fuse unknown"},
		{"podman: overlay on overlay, no fuse", map[string]probes.Tri{"overlay.mount_tmpfs": n, "overlay.mount_datadir": n,
			"overlay.userns_tmpfs": y, "overlay.userns_datadir": n, "overlay.fuse_overlayfs": n, "overlay.dev_fuse": n},
			"KP-OVL-001", "nothing to do: kprobe launch uses containerd's native snapshotter here",
			"refused on tmpfs and the data dir; in a user namespace mounts on tmpfs, refused on the data dir; fuse-overlayfs no, /dev/fuse no"},
		{"overlay upper refused, fuse-overlayfs usable", map[string]probes.Tri{"overlay.mount_tmpfs": y, "overlay.mount_datadir": n,
			"overlay.userns_tmpfs": y, "overlay.userns_datadir": n, "overlay.fuse_overlayfs": y, "overlay.dev_fuse": y},
			"KP-OVL-001", "nothing to do: kprobe launch uses containerd's fuse-overlayfs snapshotter here",
			"mounts on tmpfs, refused on the data dir, also in a user namespace; fuse-overlayfs yes, /dev/fuse yes"},
		{"unprivileged user: EPERM, userns works (as uid 65534 here)", map[string]probes.Tri{"overlay.mount_tmpfs": n,
			"overlay.mount_datadir": n, "overlay.userns_tmpfs": y, "overlay.userns_datadir": y, "overlay.userns_whiteout": y,
			"overlay.fuse_overlayfs": y, "overlay.dev_fuse": n},
			"KP-OVL-001", "nothing to do: kprobe launch uses containerd's native snapshotter here; overlay works inside a user namespace, so kprobe run as root of one (unshare --user --map-root-user --mount --pid --fork) keeps the overlayfs snapshotter",
			"refused on tmpfs and the data dir; in a user namespace mounts on tmpfs and the data dir; fuse-overlayfs yes, /dev/fuse no"},
		{"no userns overlay", map[string]probes.Tri{"overlay.mount_tmpfs": y, "overlay.mount_datadir": y,
			"overlay.userns_tmpfs": n, "overlay.userns_datadir": n}, "KP-OVL-002", "",
			"mounts on tmpfs and the data dir; in a user namespace refused on tmpfs and the data dir; fuse-overlayfs unknown, /dev/fuse unknown"},
		{"userns whiteout refused", map[string]probes.Tri{"overlay.mount_tmpfs": y, "overlay.mount_datadir": y,
			"overlay.userns_tmpfs": y, "overlay.userns_datadir": y, "overlay.userns_whiteout": n}, "KP-OVL-002", "",
			"mounts on tmpfs and the data dir, also in a user namespace (no whiteouts); fuse-overlayfs unknown, /dev/fuse unknown"},
		{"nothing known", map[string]probes.Tri{"overlay.mount_datadir": u}, "", "",
			"not tried on tmpfs and the data dir, also in a user namespace; fuse-overlayfs unknown, /dev/fuse unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := probes.NewObservation()
			for k, v := range tc.facts {
				o.Set(k, v)
			}
			o.Set("overlay.datadir_path", "/var/lib")
			judge(o, probes.Evidence{Source: "test"})
			for _, f := range o.Findings {
				if tc.fix != "" && f.Fix != tc.fix {
					t.Errorf("%s fix %q, want %q", f.Code, f.Fix, tc.fix)
				}
			}
			if got := strings.Join(obstest.Codes(o.Findings), ","); got != tc.codes {
				t.Errorf("codes %q, want %q", got, tc.codes)
			}
			if o.Summary != tc.sum {
				t.Errorf("summary %q\nwant    %q", o.Summary, tc.sum)
			}
		})
	}
}

func TestDeclarations(t *testing.T) {
	keys := map[string]bool{}
	for _, s := range (Probe{}).Facts() {
		keys[s.Key] = true
	}
	for _, k := range []string{"overlay.listed", "overlay.mount_tmpfs", "overlay.mount_datadir", "overlay.userns_tmpfs",
		"overlay.userns_datadir", "overlay.fuse_overlayfs", "overlay.dev_fuse"} {
		if !keys[k] {
			t.Errorf("contract fact %s not declared", k)
		}
	}
	for _, c := range (Probe{}).Codes() {
		if !strings.HasPrefix(c.Code, "KP-OVL-") || c.Fix == "" || c.Meaning == "" {
			t.Errorf("bad code %+v", c)
		}
	}
	if (Probe{}).Mode() != probes.Active || !probes.ValidID(Probe{}.ID()) {
		t.Error("overlay must be a valid active probe")
	}
}

func FuzzParseFilesystems(f *testing.F) {
	f.Add(hostFilesystems)
	f.Add(gvisorFilesystems)
	f.Fuzz(func(t *testing.T, text string) {
		for name := range ParseFilesystems(text) {
			if name == "" || name == "nodev" || strings.ContainsAny(name, " \t\n") {
				t.Fatalf("bad name %q", name)
			}
		}
	})
}

func FuzzParseSteps(f *testing.F) {
	f.Add("private=ok tmpfs=ok prepare=ok mount=EINVAL")
	f.Add("a=b=c ==  x=")
	f.Fuzz(func(t *testing.T, line string) {
		s := filesystems.ParseSteps(line)
		if len(s.Names) != len(s.Result) {
			t.Fatalf("%d names, %d results", len(s.Names), len(s.Result))
		}
		again := filesystems.ParseSteps(s.String())
		if again.String() != s.String() {
			t.Fatalf("not stable: %q -> %q", s.String(), again.String())
		}
		_ = Mounted(s)
		_ = s.Failure()
	})
}
