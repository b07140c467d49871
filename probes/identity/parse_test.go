package identity

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseMountinfoHost(t *testing.T) {
	ms, err := ParseMountinfo(strings.NewReader(readTestdata(t, "firecracker-host/proc/self/mountinfo")))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 21 {
		t.Errorf("%d mounts, want the 21 of the zoo host", len(ms))
	}
	root, ok := RootMount(ms)
	if !ok || root != (Mount{Root: "/", Point: "/", FSType: "ext4", Source: "/dev/vda", Options: "rw,discard,resv_strict,resuid=65534,resgid=65534"}) {
		t.Errorf("root mount %+v", root)
	}
	// A bind of a subdirectory keeps its path in the root field.
	last := ms[len(ms)-1]
	if last.Root != "/run/netns" || last.Point != "/run/netns" || last.FSType != "ext4" {
		t.Errorf("last mount %+v", last)
	}
	if !slices.ContainsFunc(ms, func(m Mount) bool { return m.FSType == "cgroup2" && m.Point == "/sys/fs/cgroup/unified" }) {
		t.Error("no cgroup2 at /sys/fs/cgroup/unified")
	}
}

func TestParseMountinfoShapes(t *testing.T) {
	tests := []struct {
		name, text string
		want       []Mount
		err        bool
	}{
		{"gvisor run (9p root)", "1 0 0:1 / / rw,noatime - 9p none rw,trans=fd,rfdno=4,wfdno=4,cache=fscache\n2 1 0:2 / /proc rw,noatime - proc none rw\n",
			[]Mount{{"/", "/", "9p", "none", "rw,trans=fd,rfdno=4,wfdno=4,cache=fscache"}, {"/", "/proc", "proc", "none", "rw"}}, false},
		{"optional fields", "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n",
			[]Mount{{"/mnt1", "/mnt2", "ext3", "/dev/root", "rw,errors=continue"}}, false},
		{"escaped space", `40 27 0:50 /a\040b /mnt/x\040y rw - tmpfs tmpfs rw` + "\n",
			[]Mount{{"/a b", "/mnt/x y", "tmpfs", "tmpfs", "rw"}}, false},
		{"no super options (old kernels)", "1 0 0:1 / / rw - rootfs rootfs\n",
			[]Mount{{"/", "/", "rootfs", "rootfs", ""}}, false},
		{"overmounted root: the last one wins", "1 0 0:1 / / rw - rootfs rootfs rw\n20 1 8:1 / / rw - ext4 /dev/sda1 rw\n",
			[]Mount{{"/", "/", "rootfs", "rootfs", "rw"}, {"/", "/", "ext4", "/dev/sda1", "rw"}}, false},
		{"no separator", "1 0 0:1 / / rw ext4 /dev/sda1 rw\n", nil, true},
		{"separator but no fstype", "1 0 0:1 / / rw -\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := ParseMountinfo(strings.NewReader(tt.text))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if !slices.Equal(ms, tt.want) {
				t.Errorf("got %+v\nwant %+v", ms, tt.want)
			}
		})
	}
	root, _ := RootMount([]Mount{{Point: "/", FSType: "rootfs"}, {Point: "/", FSType: "ext4"}})
	if root.FSType != "ext4" {
		t.Errorf("RootMount picked %s, want the last mount at /", root.FSType)
	}
}

func TestSmallParsers(t *testing.T) {
	host := readTestdata(t, "firecracker-host/proc/self/cgroup")
	if got := ParseCgroupPaths(host); len(got) != 10 || got[0] != "/" || !slices.Contains(got, "/process_api/634d7958ad46cfaf123f76fdc9fc69dc") {
		t.Errorf("cgroup paths %q", got)
	}
	if got := ParseCgroupPaths("12:memory:/docker/5e1c\n0::/system.slice/docker-5e1c.scope\n"); !slices.Equal(got, []string{"/docker/5e1c", "/system.slice/docker-5e1c.scope"}) {
		t.Errorf("docker cgroup paths %q", got)
	}
	if got := ParseCgroupPaths(""); len(got) != 0 {
		t.Errorf("gVisor's empty /proc/self/cgroup gave %q", got)
	}

	if hv, ok := CPUHypervisor(readTestdata(t, "firecracker-host/proc/cpuinfo")); !hv || !ok {
		t.Errorf("host cpuinfo: hypervisor %v, flags %v", hv, ok)
	}
	if hv, ok := CPUHypervisor("processor\t: 0\nflags\t\t: fpu vme de pse tsc msr\n"); hv || !ok {
		t.Errorf("bare metal: hypervisor %v, flags %v", hv, ok)
	}
	if _, ok := CPUHypervisor("processor\t: 0\nFeatures\t: fp asimd evtstrm\n"); ok {
		t.Error("arm64 cpuinfo has no flags line")
	}

	fsys := readTestdata(t, "firecracker-host/proc/filesystems")
	if !FilesystemListed(fsys, "cgroup2") || !FilesystemListed(fsys, "overlay") || FilesystemListed(fsys, "9p") {
		t.Error("host /proc/filesystems misread")
	}
	gv := "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevpts\nnodev\tdevtmpfs\nnodev\tmqueue\nnodev\t9p\nnodev\toverlay\nnodev\tfuse\nnodev\tcgroup\n"
	if FilesystemListed(gv, "cgroup2") || !FilesystemListed(gv, "cgroup") {
		t.Error("gVisor /proc/filesystems misread")
	}

	if got := ACPIOEMID([]byte(readTestdata(t, "firecracker-host/sys/firmware/acpi/tables/FACP"))); got != "FIRECK" {
		t.Errorf("FACP OEM ID %q, want FIRECK", got)
	}
	if got := ACPIOEMID([]byte("FACP")); got != "" {
		t.Errorf("short table gave %q", got)
	}

	env := ParseEnviron(strings.Split("container=podman\x00HOME=/root\x00=x\x00junk\x00A=b=c\x00", "\x00"))
	if env["container"] != "podman" || env["A"] != "b=c" || len(env) != 3 {
		t.Errorf("environ %v", env)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add(readTestdata(f, "firecracker-host/proc/self/mountinfo"))
	f.Add("1 0 0:1 / / rw,noatime - 9p none rw,trans=fd\n")
	f.Add(`40 27 0:50 /a\040b /mnt/x\040y rw master:1 - tmpfs tmpfs rw` + "\n")
	f.Add("1 0 0:1 / / rw -\n- - - - - - -\n")
	f.Fuzz(func(t *testing.T, text string) {
		ms, _ := ParseMountinfo(strings.NewReader(text))
		for _, m := range ms {
			if m.FSType == "" {
				t.Fatalf("mount without a type: %+v", m)
			}
		}
		if r, ok := RootMount(ms); ok && r.Point != "/" {
			t.Fatalf("root mount at %q", r.Point)
		}
		Classify(Markers{Mounts: ms})
	})
}

func FuzzParseCgroupPaths(f *testing.F) {
	f.Add(readTestdata(f, "firecracker-host/proc/self/cgroup"))
	f.Add("0::/\n")
	f.Add("12:memory:/docker/a:b\n")
	f.Fuzz(func(t *testing.T, text string) {
		paths := ParseCgroupPaths(text)
		if len(paths) > strings.Count(text, "\n")+1 {
			t.Fatalf("%d paths from %d lines", len(paths), strings.Count(text, "\n")+1)
		}
		Classify(Markers{CgroupPaths: paths})
	})
}

func FuzzCPUHypervisor(f *testing.F) {
	f.Add(readTestdata(f, "firecracker-host/proc/cpuinfo"))
	f.Add("flags: hypervisor\n")
	f.Add("Features\t: fp asimd\n")
	f.Fuzz(func(t *testing.T, text string) {
		hv, hasFlags := CPUHypervisor(text)
		if hv && !hasFlags {
			t.Fatal("hypervisor flag without a flags line")
		}
		if hv && !strings.Contains(text, "hypervisor") {
			t.Fatal("hypervisor flag from nothing")
		}
	})
}
