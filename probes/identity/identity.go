// Package identity decides what sandbox kprobe runs in (gVisor, Docker,
// podman, LXC, systemd-nspawn, WSL, a Kubernetes pod, bubblewrap, a bare
// user namespace, a VM or a host), with a confidence and the markers that
// decided it.
//
// The identity is not a blocker by itself: the other probes measure what
// the sandbox allows. It names the matching built-in profile, explains
// the other findings ("EINVAL on rbind: this is gVisor") and flags false
// friends such as the /.dockerenv baked into this project's Firecracker
// VM image. Gathering (Gather) reads only through Env; judging (Classify)
// is a pure function of the gathered Markers.
package identity

import (
	"context"
	"errors"
	"io/fs"
	"strings"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/privileges"
	"github.com/kprobe/kprobe/probes/procfs"
)

// Probe is the identity probe.
type Probe struct{}

var _ probes.Probe = Probe{}

// Codes of the identity probe. Identity never blocks.
var (
	CodeIdentified = probes.Code{Code: "KP-ID-001", Severity: probes.Info,
		Title:   "sandbox identified",
		Meaning: "kprobe recognised the sandbox and the VM under it; the matching built-in profile and its known workarounds apply."}
	CodeDockerenvIgnored = probes.Code{Code: "KP-ID-002", Severity: probes.Info,
		Title:   "/.dockerenv present but not trusted",
		Meaning: "/.dockerenv is an empty file that some VM and sandbox images ship; without Docker's overlay root or cgroup paths it does not mean Docker, so kprobe does not treat the machine as a Docker container."}
	CodeUnidentified = probes.Code{Code: "KP-ID-003", Severity: probes.Info,
		Title:   "sandbox not identified",
		Meaning: "no marker decided what this sandbox is; kprobe plans from the measured facts alone."}
)

func (Probe) ID() string            { return "identity" }
func (Probe) Domain() probes.Domain { return probes.DomainIdentity }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code {
	return []probes.Code{CodeIdentified, CodeDockerenvIgnored, CodeUnidentified}
}

func (Probe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "identity.sandbox", Type: probes.TypeString, Doc: "host|vm|gvisor|docker|podman|lxc|nspawn|wsl|kubernetes|bubblewrap|userns|container|unknown (innermost layer)"},
		{Key: "identity.vm", Type: probes.TypeString, Doc: "hypervisor under the kernel: firecracker|kvm|qemu|vmware|hyperv|xen|none|unknown"},
		{Key: "identity.ide", Type: probes.TypeString, Doc: "hosted IDE: codespaces|gitpod|none"},
		{Key: "identity.confidence", Type: probes.TypeString, Doc: "high|medium|low confidence in identity.sandbox"},
		{Key: "identity.markers", Type: probes.TypeList, Doc: "the markers that decided sandbox, vm and ide, as \"class: what was seen\""},
	}
}

// Run gathers the markers and classifies them.
func (Probe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	m := Gather(env, o)
	id := Classify(m)
	o.Set("identity.sandbox", id.Sandbox)
	o.Set("identity.vm", id.VM)
	o.Set("identity.ide", id.IDE)
	o.Set("identity.confidence", id.Confidence)
	o.Set("identity.markers", append([]string{}, id.Markers...))
	for _, s := range id.Markers {
		o.Note("marker", s, nil)
	}
	for _, s := range id.Others {
		o.Note("marker (not decisive)", s, nil)
	}

	ev := probes.Evidence{Source: "identity markers", Excerpt: strings.Join(id.Markers, "; ")}
	if id.Sandbox == "unknown" {
		o.Find(CodeUnidentified, "no marker decided what this sandbox is (vm: "+id.VM+")", ev)
	} else {
		summary := id.Sandbox
		switch {
		case id.Sandbox == "vm":
			summary = "a " + id.VM + " VM, in no container"
		case id.VM != "none" && id.VM != "unknown":
			summary += " on a " + id.VM + " VM"
		}
		summary += " (confidence " + id.Confidence + ")"
		if id.IDE != "none" {
			summary += " in " + id.IDE
		}
		o.Find(CodeIdentified, summary, ev)
	}
	if m.DockerEnv && id.Sandbox != "docker" {
		o.Find(CodeDockerenvIgnored, "/.dockerenv exists but nothing else says Docker: treated as "+id.Sandbox,
			probes.Evidence{Source: "/.dockerenv", Excerpt: "exists"})
	}
	o.Summary = Summary(id)
	return o, nil
}

// Summary says the verdict in one line, with as many of the markers that
// decided it as fit: "vm (firecracker), high confidence: hypervisor flag
// in /proc/cpuinfo; /proc/cmdline mentions firecracker (+2 more)".
func Summary(id Identity) string {
	s := id.Sandbox
	switch {
	case id.Sandbox == "unknown":
		s = "sandbox not identified"
		if id.VM != "unknown" {
			s += " (vm: " + id.VM + ")"
		}
	case id.Sandbox == "vm":
		s = "vm (" + id.VM + ")"
	case id.VM != "none" && id.VM != "unknown":
		s += " on " + id.VM
	}
	if id.IDE != "none" {
		s += " in " + id.IDE
	}
	s += ", " + id.Confidence + " confidence"
	if len(id.Markers) == 0 {
		return s
	}
	texts := make([]string, len(id.Markers))
	for i, mk := range id.Markers {
		texts[i] = mk
		if _, text, ok := strings.Cut(mk, ": "); ok {
			texts[i] = text
		}
	}
	return s + ": " + probes.Fit(texts, "; ", 110-len(s)-2)
}

// Gather reads the markers through env, noting what it could not read.
func Gather(env *probes.Env, o *probes.Observation) Markers {
	var m Markers
	read := func(p string) (string, bool) {
		b, err := fs.ReadFile(env.Root, p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				o.Note("/"+p, "", err)
			}
			return "", false
		}
		return string(b), true
	}
	exists := func(p string) bool {
		_, err := fs.Stat(env.Root, p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			o.Note("/"+p, "", err)
		}
		return err == nil
	}

	if u, err := env.Sys.Uname(); err == nil {
		m.Release = u.Release
	} else {
		o.Note("uname(2)", "", err)
	}
	if s, ok := read("proc/version"); ok {
		m.ProcVersion = strings.TrimSpace(strings.SplitN(s, "\n", 2)[0])
		if m.Release == "" {
			if f := strings.Fields(m.ProcVersion); len(f) >= 3 {
				m.Release = f[2]
			}
		}
	}
	if s, err := env.Sys.Syslog(4096); err == nil {
		m.Syslog = s
	} else {
		o.Note("syslog(2)", "", err)
	}
	if ents, err := fs.ReadDir(env.Root, "proc/self/ns"); err == nil {
		m.Namespaces = []string{}
		for _, e := range ents {
			m.Namespaces = append(m.Namespaces, e.Name())
		}
	} else {
		o.Note("/proc/self/ns", "", err)
	}
	if s, ok := read("proc/filesystems"); ok {
		m.Cgroup2 = probes.TriOf(FilesystemListed(s, "cgroup2"))
	}
	if s, ok := read("proc/cmdline"); ok {
		m.Cmdline = strings.TrimSpace(s)
	}

	if s, ok := read("proc/cpuinfo"); ok {
		if hv, hasFlags := CPUHypervisor(s); hasFlags {
			m.Hypervisor = probes.TriOf(hv)
		}
	}
	m.SysVendor, _ = read("sys/class/dmi/id/sys_vendor")
	m.ProductName, _ = read("sys/class/dmi/id/product_name")
	m.HypervisorType, _ = read("sys/hypervisor/type")
	if s, ok := read("sys/firmware/acpi/tables/FACP"); ok {
		m.ACPIOEM = ACPIOEMID([]byte(s))
	}

	if s, ok := read("proc/self/mountinfo"); ok {
		ms, err := procfs.ParseMountinfo(strings.NewReader(s))
		if err != nil {
			o.Note("/proc/self/mountinfo", "", err) // malformed lines are skipped
		}
		m.Mounts = ms
		if r := procfs.MountFor(ms, "/"); r != nil {
			o.Note("/proc/self/mountinfo", "/ is "+r.FSType+" from "+r.Source+" (root "+r.Root+")", nil)
		}
	}
	if s, ok := read("proc/self/cgroup"); ok {
		m.CgroupPaths = ParseCgroupPaths(s)
	}

	m.DockerEnv = exists(".dockerenv")
	m.ContainerEnv = exists("run/.containerenv")
	m.KubeSecrets = exists("var/run/secrets/kubernetes.io") || exists("run/secrets/kubernetes.io")
	m.WSLInterop = exists("proc/sys/fs/binfmt_misc/WSLInterop") || exists("proc/sys/fs/binfmt_misc/WSLInterop-late")
	m.SystemdContainer, _ = read("run/systemd/container")

	m.Env = ParseEnviron(env.Sys.Environ())
	if s, ok := read("proc/1/environ"); ok {
		m.PID1Env = ParseEnviron(strings.Split(s, "\x00"))
	}
	if s, ok := read("proc/1/cmdline"); ok {
		m.PID1Cmdline = strings.Split(strings.TrimRight(s, "\x00"), "\x00")
	}

	if s, ok := read("proc/self/status"); ok {
		st, _ := privileges.ParseStatus(strings.NewReader(s))
		if st.Has("Uid") && st.Has("CapEff") {
			m.Creds = &Creds{UID: st.UID[1], CapCount: len(privileges.CapNames(st.CapEff))}
		}
	}
	if s, ok := read("proc/self/uid_map"); ok {
		m.UserNS = privileges.InUserNS(s)
		if r, err := privileges.ParseIDMap(s); err == nil {
			m.UIDMap = privileges.FormatIDMap(r)
		}
	}
	return m
}
