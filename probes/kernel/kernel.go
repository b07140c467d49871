// Package kernel probes the kernel release, whether it is real or emulated,
// and whether its build configuration can be read.
package kernel

import (
	"context"
	"io/fs"
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// Probe is the kernel probe.
type Probe struct{}

var _ probes.Probe = Probe{}

// Codes of the kernel probe.
var (
	CodeEmulated = probes.Code{Code: "KP-KERN-001", Severity: probes.Warn,
		Title:   "the kernel is emulated (gVisor)",
		Meaning: "uname and /proc describe gVisor's Sentry, not a Linux kernel: version checks in containerd and runc (for example the 4.11 check for unprivileged ports) see 4.4.0.",
		Fix:     "nothing to do: kprobe launch applies the gVisor settings itself ('kprobe plan' lists them)"}
	CodeOld = probes.Code{Code: "KP-KERN-002", Severity: probes.Warn,
		Title:   "kernel release older than 4.11",
		Meaning: "containerd's CRI enables unprivileged ports and ICMP only on kernels >= 4.11 and writes sysctls that do not exist before; k3s expects >= 4.15 for cgroup features.",
		Fix:     "nothing to do: kprobe launch sets containerd's enable_unprivileged_ports = false and enable_unprivileged_icmp = false itself"}
)

func (Probe) ID() string            { return "kernel" }
func (Probe) Domain() probes.Domain { return probes.DomainKernel }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code  { return []probes.Code{CodeEmulated, CodeOld} }
func (Probe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "kernel.release", Type: probes.TypeString, Doc: "uname -r"},
		{Key: "kernel.version", Type: probes.TypeString, Doc: "first line of /proc/version"},
		{Key: "kernel.emulated", Type: probes.TypeTri, Doc: "the kernel is emulated by gVisor's Sentry"},
		{Key: "kernel.config", Type: probes.TypeString, Doc: "where the build config was found (/proc/config.gz, /boot/config-R) or \"absent\""},
		{Key: "kernel.modules", Type: probes.TypeTri, Doc: "/proc/modules is readable (absent in gVisor and most containers)"},
		{Key: "kernel.br_netfilter", Type: probes.TypeString, Doc: "br_netfilter for the running kernel by depmod's lists in /lib/modules/RELEASE: builtin, module (a file launch can load), absent, or unknown (the lists cannot be read)"},
	}
}

// Run reads uname(2), /proc/version and looks for the kernel config. A
// missing config is recorded, never a failure: sandboxes rarely have one.
func (Probe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	u, err := env.Sys.Uname()
	release := u.Release
	if err != nil {
		o.Note("uname(2)", "", err)
	}
	version, verr := fs.ReadFile(env.Root, "proc/version")
	first := strings.TrimSpace(strings.SplitN(string(version), "\n", 2)[0])
	if verr != nil {
		o.Note("/proc/version", "", verr)
	}
	if release == "" && first != "" {
		if f := strings.Fields(first); len(f) >= 3 {
			release = f[2]
		}
	}
	if release == "" && first == "" {
		return o, err
	}
	o.Set("kernel.release", release)
	o.Set("kernel.version", first)
	o.Note("uname -r", release, nil)

	emulated := IsGVisorRelease(release, first)
	o.Set("kernel.emulated", probes.TriOf(emulated))
	if emulated {
		o.Find(CodeEmulated, "kernel "+release+" is gVisor's emulation", probes.Evidence{Source: "/proc/version", Excerpt: first})
	}
	kind := "real kernel"
	if emulated {
		kind = "emulated by gVisor"
	}
	if maj, min, ok := MajorMinor(release); ok && (maj < 4 || maj == 4 && min < 11) {
		o.Find(CodeOld, "kernel "+release+" reports a version below 4.11", probes.Evidence{Source: "uname -r", Excerpt: release})
		kind += ", older than 4.11"
	}

	o.Set("kernel.config", "absent")
	for _, p := range []string{"proc/config.gz", "boot/config-" + release} {
		if _, err := fs.Stat(env.Root, p); err == nil {
			o.Set("kernel.config", "/"+p)
			break
		}
	}
	if release != "" && !emulated {
		o.Set("kernel.br_netfilter", FindModule(env.Root, release, "br_netfilter").State)
	}
	if _, err := fs.Stat(env.Root, "proc/modules"); err == nil {
		o.Set("kernel.modules", probes.Yes)
	} else if errorsIsNotExist(err) {
		o.Set("kernel.modules", probes.No)
	} else {
		o.Set("kernel.modules", probes.Unknown)
	}
	o.Summary = release + ", " + kind + ", config " + o.Facts.String("kernel.config")
	return o, nil
}

func errorsIsNotExist(err error) bool { return err != nil && probes.Errno(err) == "ENOENT" }

// IsGVisorRelease reports whether a release and /proc/version line are
// gVisor's: "4.19.0-gvisor" on current builds, or 4.4.0 with the fixed 2016
// build string on older ones.
func IsGVisorRelease(release, procVersion string) bool {
	if strings.Contains(release, "gvisor") || strings.Contains(procVersion, "gVisor") {
		return true
	}
	return release == "4.4.0" && strings.Contains(procVersion, "#1 SMP Sun Jan 10 15:06:54 PST 2016")
}

// MajorMinor parses the first two numbers of a release such as 6.18.44-fc.
func MajorMinor(release string) (int, int, bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	maj, ok1 := atoi(parts[0])
	min, ok2 := atoi(strings.TrimLeft(parts[1], " "))
	return maj, min, ok1 && ok2
}

func atoi(s string) (int, bool) {
	n, digits := 0, 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		digits++
		if n > 1<<20 {
			return 0, false
		}
	}
	return n, digits > 0
}
