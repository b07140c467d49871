package identity

import (
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"

	"github.com/kprobe/kprobe/probes"
)

// Markers of the zoo's Firecracker host as seen from every sandbox that
// shares its kernel (sandbox-zoo.md).
const (
	fcRelease = "6.18.44-fc-v782"
	fcVersion = "Linux version 6.18.44-fc-v782 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0"
	fcCmdline = "console=ttyS0 quiet reboot=k panic=1 nomodule rdinit=/process_api -- --firecracker-init --addr 0.0.0.0:2024"

	gvRelease = "4.4.0"
	gvVersion = "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016"
	gvSyslog  = "[   0.000000] Starting gVisor...\n[   0.123456] Waiting for children...\n[   0.234567] Ready!\n"
)

var (
	allNS    = []string{"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"}
	gvisorNS = []string{"net", "pid", "user"}

	hostMounts = []*mountinfo.Info{
		{Root: "/", Mountpoint: "/proc", FSType: "proc", Source: "proc"},
		{Root: "/", Mountpoint: "/sys", FSType: "sysfs", Source: "sysfs"},
		{Root: "/", Mountpoint: "/", FSType: "ext4", Source: "/dev/vda"},
		{Root: "/", Mountpoint: "/sys/fs/cgroup", FSType: "tmpfs", Source: "tmpfs"},
		{Root: "/", Mountpoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Source: "cgroup2"},
	}
	hostCgroups = []string{"/", "/", "/process_api/1162375d27cc609", "/"}

	// runc/crun with the docker-like spec: the rootfs directory is
	// pivoted into, /proc paths are masked, /proc/sys is read-only.
	dockerLikeMounts = []*mountinfo.Info{
		{Root: "/var/tmp/zoo/rootfs", Mountpoint: "/", FSType: "ext4", Source: "/dev/vda"},
		{Root: "/", Mountpoint: "/proc", FSType: "proc", Source: "proc"},
		{Root: "/", Mountpoint: "/dev", FSType: "tmpfs", Source: "tmpfs"},
		{Root: "/", Mountpoint: "/sys", FSType: "sysfs", Source: "sysfs"},
		{Root: "/", Mountpoint: "/sys/fs/cgroup", FSType: "tmpfs", Source: "tmpfs"},
		{Root: "/", Mountpoint: "/dev/mqueue", FSType: "mqueue", Source: "mqueue"},
		{Root: "/bus", Mountpoint: "/proc/bus", FSType: "proc", Source: "proc"},
		{Root: "/sys", Mountpoint: "/proc/sys", FSType: "proc", Source: "proc"},
		{Root: "/", Mountpoint: "/proc/acpi", FSType: "tmpfs", Source: "tmpfs"},
		{Root: "/null", Mountpoint: "/proc/kcore", FSType: "tmpfs", Source: "tmpfs"},
		{Root: "/null", Mountpoint: "/proc/keys", FSType: "tmpfs", Source: "tmpfs"},
		{Root: "/null", Mountpoint: "/proc/timer_list", FSType: "tmpfs", Source: "tmpfs"},
		{Root: "/", Mountpoint: "/sys/firmware", FSType: "tmpfs", Source: "tmpfs"},
	}
	rootCgroups = []string{"/", "/", "/", "/", "/", "/", "/", "/", "/", "/"}
)

func fcVM(m Markers) Markers {
	m.Release, m.ProcVersion, m.Cmdline = fcRelease, fcVersion, fcCmdline
	m.Hypervisor, m.Cgroup2 = probes.Yes, probes.Yes
	if m.Namespaces == nil {
		m.Namespaces = allNS
	}
	if m.UserNS == probes.Unknown {
		m.UserNS, m.UIDMap = probes.No, "0 0 4294967295"
	}
	return m
}

func gvisor(m Markers) Markers {
	m.Release, m.ProcVersion, m.Syslog = gvRelease, gvVersion, gvSyslog
	m.Namespaces, m.Cgroup2 = gvisorNS, probes.No
	m.UserNS, m.UIDMap = probes.No, "0 0 4294967295"
	return m
}

func TestClassifyZoo(t *testing.T) {
	tests := []struct {
		sandbox string
		m       Markers
		want    string
		vm      string
		conf    string
	}{
		{"host", fcVM(Markers{Mounts: hostMounts, CgroupPaths: hostCgroups, DockerEnv: true,
			Creds: &Creds{UID: 0, CapCount: 40}, Syslog: "[    0.000000] Linux version 6.18.44-fc-v782\n",
			PID1Cmdline: []string{"/process_api", "--firecracker-init", "--addr", "0.0.0.0:2024"}}),
			"vm", "firecracker", "high"},
		{"gvisor-do", gvisor(Markers{DockerEnv: true, Creds: &Creds{CapCount: 37},
			Mounts:      []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "overlay", Source: "none"}, {Root: "/", Mountpoint: "/proc", FSType: "proc"}},
			PID1Cmdline: []string{"/bin/sh", "/tmp/zoo/fingerprint.sh", "gvisor-do"}}),
			"gvisor", "unknown", "high"},
		{"gvisor-do-hostnet", gvisor(Markers{DockerEnv: true, Creds: &Creds{CapCount: 37},
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "overlay", Source: "none"},
				{Root: "/etc/hosts", Mountpoint: "/etc/hosts", FSType: "9p", Source: "9p"},
				{Root: "/etc/hostname", Mountpoint: "/etc/hostname", FSType: "9p", Source: "9p"},
				{Root: "/etc/resolv.conf", Mountpoint: "/etc/resolv.conf", FSType: "9p", Source: "9p"}}}),
			"gvisor", "unknown", "high"},
		{"gvisor-rootless", gvisor(Markers{DockerEnv: true, Creds: &Creds{CapCount: 37},
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "overlay", Source: "none"}}}),
			"gvisor", "unknown", "high"},
		{"gvisor-run", gvisor(Markers{Creds: &Creds{CapCount: 13},
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "9p", Source: "9p"}, {Root: "/", Mountpoint: "/tmp", FSType: "tmpfs"}}}),
			"gvisor", "unknown", "high"},
		{"gvisor-run-shared", gvisor(Markers{Creds: &Creds{CapCount: 13},
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "9p", Source: "9p"}}}),
			"gvisor", "unknown", "high"},
		{"gvisor-run-overlay", gvisor(Markers{Creds: &Creds{CapCount: 13},
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "overlay", Source: "none"}}}),
			"gvisor", "unknown", "high"},
		{"userns-root", fcVM(Markers{Mounts: hostMounts, CgroupPaths: hostCgroups, DockerEnv: true,
			Creds: &Creds{UID: 0, CapCount: 41}, UserNS: probes.Yes, UIDMap: "0 0 1",
			PID1Cmdline: []string{"/bin/sh", "/tmp/zoo/fingerprint.sh", "userns-root"}}),
			"userns", "firecracker", "medium"},
		{"userns-user", fcVM(Markers{Mounts: hostMounts, CgroupPaths: hostCgroups, DockerEnv: true,
			Creds: &Creds{UID: 0, CapCount: 41}, UserNS: probes.Yes, UIDMap: "0 1001 1"}),
			"userns", "firecracker", "medium"},
		{"bwrap", fcVM(Markers{
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "tmpfs", Source: "tmpfs"},
				{Root: "/usr", Mountpoint: "/usr", FSType: "ext4", Source: "/dev/vda"},
				{Root: "/", Mountpoint: "/proc", FSType: "proc", Source: "proc"}},
			CgroupPaths: rootCgroups, Creds: &Creds{UID: 1001, CapCount: 0}, UserNS: probes.Yes, UIDMap: "1001 1001 1",
			PID1Cmdline: []string{"bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr"}}),
			"bubblewrap", "firecracker", "high"},
		{"runc-docker", fcVM(Markers{Mounts: dockerLikeMounts, CgroupPaths: rootCgroups, Creds: &Creds{CapCount: 14},
			PID1Cmdline: []string{"/bin/sh", "/zoo/fingerprint.sh", "runc-docker"}}),
			"container", "firecracker", "high"},
		{"crun-docker", fcVM(Markers{Mounts: dockerLikeMounts, CgroupPaths: rootCgroups, Creds: &Creds{CapCount: 14}}),
			"container", "firecracker", "high"},
		{"runc-privileged", fcVM(Markers{
			Mounts: []*mountinfo.Info{{Root: "/var/tmp/zoo/rootfs", Mountpoint: "/", FSType: "ext4", Source: "/dev/vda"},
				{Root: "/", Mountpoint: "/proc", FSType: "proc"}, {Root: "/", Mountpoint: "/dev", FSType: "devtmpfs"},
				{Root: "/", Mountpoint: "/sys", FSType: "sysfs"}},
			CgroupPaths: rootCgroups, Creds: &Creds{CapCount: 40}}),
			"container", "firecracker", "medium"},
		{"runc-rootless", fcVM(Markers{Mounts: dockerLikeMounts, CgroupPaths: hostCgroups,
			Creds: &Creds{UID: 0, CapCount: 3}, UserNS: probes.Yes, UIDMap: "0 1001 1"}),
			"container", "firecracker", "high"},
		{"podman", fcVM(Markers{
			Mounts: append([]*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "overlay", Source: "overlay",
				VFSOptions: "rw,lowerdir=/var/tmp/zoo/podman/storage/overlay/l/ABC,upperdir=/var/tmp/zoo/podman/storage/overlay/123/diff"}},
				dockerLikeMounts[1:]...),
			CgroupPaths:  []string{"/libpod_parent/libpod-20bd1c6c", "/libpod_parent/libpod-20bd1c6c"},
			ContainerEnv: true, Env: map[string]string{"container": "podman"}, Creds: &Creds{CapCount: 11}}),
			"podman", "firecracker", "high"},
		{"podman-rootless", fcVM(Markers{
			Mounts: append([]*mountinfo.Info{{Root: "/home/zoo/.local/share/containers/storage/vfs/dir/9f2e", Mountpoint: "/", FSType: "ext4", Source: "/dev/vda"}},
				dockerLikeMounts[1:]...),
			CgroupPaths: hostCgroups, ContainerEnv: true, Env: map[string]string{"container": "podman"},
			Creds: &Creds{CapCount: 11}, UserNS: probes.Yes, UIDMap: "0 1001 1, 1 100000 65536"}),
			"podman", "firecracker", "high"},
	}
	for _, tt := range tests {
		t.Run(tt.sandbox, func(t *testing.T) {
			id := Classify(tt.m)
			if id.Sandbox != tt.want || id.VM != tt.vm || id.Confidence != tt.conf {
				t.Errorf("got %s/%s/%s, want %s/%s/%s\nmarkers: %q\nothers: %q",
					id.Sandbox, id.VM, id.Confidence, tt.want, tt.vm, tt.conf, id.Markers, id.Others)
			}
			if id.IDE != "none" {
				t.Errorf("ide %q", id.IDE)
			}
			for _, mk := range id.Markers {
				if strings.Contains(mk, ".dockerenv") {
					t.Errorf("/.dockerenv decided %s: %q", id.Sandbox, id.Markers)
				}
			}
			if len(id.Markers) == 0 {
				t.Error("no deciding markers")
			}
		})
	}
}

// TestClassifyOthers covers the sandboxes the zoo does not have, from the
// markers their documentation and source give.
func TestClassifyOthers(t *testing.T) {
	dockerOverlay := &mountinfo.Info{Root: "/", Mountpoint: "/", FSType: "overlay", Source: "overlay",
		VFSOptions: "rw,lowerdir=/var/lib/docker/overlay2/l/Q2X:/var/lib/docker/overlay2/l/7YB,upperdir=/var/lib/docker/overlay2/5e1/diff,workdir=/var/lib/docker/overlay2/5e1/work"}
	hostsBind := &mountinfo.Info{Root: "/var/lib/docker/containers/5e1/hostname", Mountpoint: "/etc/hostname", FSType: "ext4", Source: "/dev/sda1"}
	bareMetal := Markers{Release: "6.1.0-18-amd64", Hypervisor: probes.No, Cgroup2: probes.Yes, Namespaces: allNS,
		Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "ext4", Source: "/dev/nvme0n1p2"}}, UserNS: probes.No}
	tests := []struct {
		name            string
		m               Markers
		sandbox, vm     string
		ide, confidence string
	}{
		{"docker cgroup v1", Markers{Hypervisor: probes.Yes, DockerEnv: true, Mounts: []*mountinfo.Info{dockerOverlay, hostsBind},
			CgroupPaths: []string{"/docker/5e1c0ffee", "/docker/5e1c0ffee"}},
			"docker", "unknown", "none", "high"},
		{"docker cgroup v2 with cgroupns", Markers{Hypervisor: probes.Yes, DockerEnv: true, Mounts: []*mountinfo.Info{dockerOverlay},
			CgroupPaths: []string{"/"}},
			"docker", "unknown", "none", "high"},
		{"dockerenv and an overlay root only", Markers{DockerEnv: true, Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "overlay"}}},
			"docker", "unknown", "none", "medium"},
		{"dockerenv alone on bare metal", func() Markers { m := bareMetal; m.DockerEnv = true; return m }(),
			"host", "none", "none", "medium"},
		{"codespaces", Markers{Hypervisor: probes.Yes, SysVendor: "Microsoft Corporation", ProductName: "Virtual Machine",
			DockerEnv: true, Mounts: []*mountinfo.Info{dockerOverlay}, Env: map[string]string{"CODESPACES": "true"}},
			"docker", "hyperv", "codespaces", "high"},
		{"gitpod", Markers{Hypervisor: probes.Yes, SysVendor: "Google", ProductName: "Google Compute Engine",
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "overlay", VFSOptions: "lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/9/fs"}},
			Env:    map[string]string{"GITPOD_WORKSPACE_ID": "gitpodio-empty-abc123", "KUBERNETES_SERVICE_HOST": "10.0.0.1"}, KubeSecrets: true},
			"kubernetes", "kvm", "gitpod", "high"},
		{"kubernetes pod", Markers{Hypervisor: probes.Yes, SysVendor: "Amazon EC2", ProductName: "m5.large",
			Env:         map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1"},
			CgroupPaths: []string{"/kubepods/besteffort/pod1234/abcd"},
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "overlay"},
				{Root: "/var/lib/kubelet/pods/1234/etc-hosts", Mountpoint: "/etc/hosts", FSType: "ext4"}}},
			"kubernetes", "kvm", "none", "high"},
		{"gVisor pod (GKE Sandbox)", gvisor(Markers{Env: map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, KubeSecrets: true}),
			"gvisor", "unknown", "none", "high"},
		{"current gVisor release", Markers{Release: "4.19.0-gvisor", Namespaces: gvisorNS},
			"gvisor", "unknown", "none", "high"},
		{"lxc", Markers{Hypervisor: probes.No, PID1Env: map[string]string{"container": "lxc"},
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "zfs"}, {Root: "/", Mountpoint: "/proc/meminfo", FSType: "fuse.lxcfs"},
				{Root: "/", Mountpoint: "/proc/cpuinfo", FSType: "fuse.lxcfs"}},
			CgroupPaths: []string{"/lxc.payload.c1"}, UserNS: probes.Yes, UIDMap: "0 1000000 1000000000"},
			"lxc", "none", "none", "high"},
		{"systemd-nspawn", Markers{Hypervisor: probes.No, Env: map[string]string{"container": "systemd-nspawn"},
			SystemdContainer: "systemd-nspawn\n"},
			"nspawn", "none", "none", "high"},
		{"wsl2", Markers{Release: "5.15.153.1-microsoft-standard-WSL2", Hypervisor: probes.Yes, WSLInterop: true,
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "ext4", Source: "/dev/sdc"}}, UserNS: probes.No},
			"wsl", "hyperv", "none", "high"},
		{"docker in wsl2", Markers{Release: "5.15.153.1-microsoft-standard-WSL2", Hypervisor: probes.Yes, DockerEnv: true,
			Mounts: []*mountinfo.Info{dockerOverlay}, CgroupPaths: []string{"/"}},
			"docker", "hyperv", "none", "high"},
		{"qemu vm", Markers{Hypervisor: probes.Yes, SysVendor: "QEMU", ProductName: "Standard PC (Q35 + ICH9, 2009)",
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "ext4"}}, UserNS: probes.No},
			"vm", "qemu", "none", "high"},
		{"vmware vm", Markers{Hypervisor: probes.Yes, SysVendor: "VMware, Inc.", ProductName: "VMware Virtual Platform"},
			"vm", "vmware", "none", "high"},
		{"xen vm", Markers{Hypervisor: probes.Yes, HypervisorType: "xen\n"},
			"vm", "xen", "none", "high"},
		{"kvm from the kernel log", Markers{Hypervisor: probes.Yes, Syslog: "<6>[    0.000000] Hypervisor detected: KVM\n"},
			"vm", "kvm", "none", "medium"},
		{"firecracker from ACPI only", Markers{Hypervisor: probes.Yes, ACPIOEM: "FIRECK"},
			"vm", "firecracker", "none", "high"},
		{"unnamed hypervisor", Markers{Hypervisor: probes.Yes},
			"vm", "unknown", "none", "medium"},
		{"bare metal", bareMetal, "host", "none", "none", "medium"},
		{"bare-metal EC2 instance", func() Markers { m := bareMetal; m.SysVendor, m.ProductName = "Amazon EC2", "m5.metal"; return m }(),
			"host", "none", "none", "medium"},
		{"bubblewrap by its credentials (web IDE)", Markers{Hypervisor: probes.Yes, Creds: &Creds{UID: 1000},
			Mounts: []*mountinfo.Info{{Root: "/", Mountpoint: "/", FSType: "tmpfs"}}, UserNS: probes.Yes, UIDMap: "1000 1000 1"},
			"bubblewrap", "unknown", "none", "medium"},
		{"oci container= variable", Markers{Env: map[string]string{"container": "oci"}},
			"container", "unknown", "none", "medium"},
		{"nothing readable", Markers{}, "unknown", "unknown", "none", "low"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := Classify(tt.m)
			if id.Sandbox != tt.sandbox || id.VM != tt.vm || id.IDE != tt.ide || id.Confidence != tt.confidence {
				t.Errorf("got %s/%s/%s/%s, want %s/%s/%s/%s\nmarkers: %q\nothers: %q",
					id.Sandbox, id.VM, id.IDE, id.Confidence, tt.sandbox, tt.vm, tt.ide, tt.confidence, id.Markers, id.Others)
			}
		})
	}
}

// TestDockerenvNeverDecides: adding /.dockerenv to any zoo sandbox but a
// Docker one must not change the verdict.
func TestDockerenvNeverDecides(t *testing.T) {
	for _, m := range []Markers{
		fcVM(Markers{Mounts: hostMounts}),
		fcVM(Markers{Mounts: hostMounts, UserNS: probes.Yes, UIDMap: "0 0 1"}),
		fcVM(Markers{Mounts: dockerLikeMounts}),
		{Hypervisor: probes.No, Mounts: hostMounts},
	} {
		before := Classify(m).Sandbox
		m.DockerEnv = true
		if after := Classify(m).Sandbox; after != before {
			t.Errorf("/.dockerenv turned %s into %s", before, after)
		}
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		id   Identity
		want string
	}{
		{Identity{Sandbox: "vm", VM: "firecracker", IDE: "none", Confidence: "high",
			Markers: []string{"vm: hypervisor flag in /proc/cpuinfo", "vm: /proc/cmdline mentions firecracker", "vm: kernel release 6.18.44-fc-v657 is a Firecracker build (-fc-)"}},
			"vm (firecracker), high confidence: hypervisor flag in /proc/cpuinfo (+2 more)"},
		{Identity{Sandbox: "docker", VM: "hyperv", IDE: "codespaces", Confidence: "high", Markers: []string{"docker: /.dockerenv with an overlay root"}},
			"docker on hyperv in codespaces, high confidence: /.dockerenv with an overlay root"},
		{Identity{Sandbox: "gvisor", VM: "unknown", IDE: "none", Confidence: "medium", Markers: []string{"gvisor: root filesystem is 9p (a gofer mount)"}},
			"gvisor, medium confidence: root filesystem is 9p (a gofer mount)"},
		{Identity{Sandbox: "unknown", VM: "none", IDE: "none", Confidence: "low"}, "sandbox not identified (vm: none), low confidence"},
	} {
		got := Summary(tc.id)
		if got != tc.want || len(got) > 110 {
			t.Errorf("Summary(%+v) =\n %q\nwant\n %q", tc.id, got, tc.want)
		}
	}
	// The zoo's host, classified.
	if got := Summary(Classify(fcVM(Markers{Mounts: hostMounts, CgroupPaths: hostCgroups}))); !strings.HasPrefix(got, "vm (firecracker), high confidence: ") {
		t.Errorf("host summary %q", got)
	}
}
