package identity

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes/procfs"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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

// FuzzClassifyMounts classifies whatever mount table procfs parses.
func FuzzClassifyMounts(f *testing.F) {
	f.Add(readTestdata(f, "firecracker-host/proc/self/mountinfo"))
	f.Add("1 0 0:1 / / rw,noatime - 9p none rw,trans=fd\n")
	f.Add(`40 27 0:50 /a\040b /mnt/x\040y rw master:1 - tmpfs tmpfs rw` + "\n")
	f.Add("1 0 0:1 / / rw - overlay none lowerdir=/var/lib/docker/overlay2/l/x\n")
	f.Fuzz(func(t *testing.T, text string) {
		ms, _ := procfs.ParseMountinfo(strings.NewReader(text))
		id := Classify(Markers{Mounts: ms})
		if id.Sandbox == "" || id.Confidence == "" {
			t.Fatalf("empty verdict %+v", id)
		}
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
