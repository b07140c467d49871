// Package devices probes the device nodes a Kubernetes node reaches for:
// /dev/kmsg (the kubelet's OOM watcher opens it at start-up and fails
// without it), /dev/fuse (fuse-overlayfs), /dev/net/tun (slirp4netns and
// rootless networking), /dev/kvm and /dev/loop-control; and, actively,
// whether device nodes can be created at all (mknod).
//
// Each device is opened the way its user opens it and closed at once;
// "present", "missing" (ENOENT) and "denied" (EPERM, EACCES) are different
// answers that call for different workarounds.
package devices

import (
	"context"
	"fmt"
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// Probe is the passive devices probe.
type Probe struct{}

var _ probes.Probe = Probe{}

// Codes of the devices probe.
var (
	CodeKmsgMissing = probes.Code{Code: "KP-DEV-001", Severity: probes.Warn,
		Title:   "/dev/kmsg does not exist",
		Meaning: "the kubelet's OOM watcher opens /dev/kmsg at start-up and stops with \"open /dev/kmsg: no such file or directory\"; gVisor and Docker-like containers have no /dev/kmsg.",
		Fix:     "nothing to do: kprobe launch applies a /dev/kmsg shim itself; by hand: ln -s /dev/console /dev/kmsg, or (in a private mount namespace) touch /dev/kmsg && mount --bind /dev/null /dev/kmsg"}
	CodeKmsgDenied = probes.Code{Code: "KP-DEV-002", Severity: probes.Warn,
		Title:   "/dev/kmsg cannot be opened",
		Meaning: "the kubelet stops with \"open /dev/kmsg: operation not permitted\"; in a user namespace the kernel refuses the open even to uid 0 of the namespace.",
		Fix:     "nothing to do: in a user namespace kprobe launch sets the kubelet's KubeletInUserNamespace feature gate; otherwise it binds /dev/null over /dev/kmsg in a private mount namespace (mount --bind /dev/null /dev/kmsg)"}
)

// device is one node the probe opens.
type device struct {
	key   string // fact key
	path  string
	flags int
	doc   string
}

// O_RDONLY and O_RDWR have these values on every Linux architecture;
// they are spelled out so that the list builds on other systems too.
const (
	oRDONLY = 0x0
	oRDWR   = 0x2
)

var devicesList = []device{
	{"dev.fuse", "/dev/fuse", oRDWR, "/dev/fuse opens read-write (fuse-overlayfs, FUSE mounts)"},
	{"dev.net_tun", "/dev/net/tun", oRDWR, "/dev/net/tun opens read-write (slirp4netns, rootless networking, VPNs)"},
	{"dev.kvm", "/dev/kvm", oRDWR, "/dev/kvm opens read-write (KubeVirt, Kata, Firecracker)"},
	{"dev.loop_control", "/dev/loop-control", oRDWR, "/dev/loop-control opens read-write (loop devices for image-backed volumes)"},
}

func (Probe) ID() string            { return "devices" }
func (Probe) Domain() probes.Domain { return probes.DomainDevices }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code  { return []probes.Code{CodeKmsgMissing, CodeKmsgDenied} }
func (Probe) Facts() []probes.FactSpec {
	specs := []probes.FactSpec{
		{Key: "dev.kmsg", Type: probes.TypeString, Doc: "opening /dev/kmsg for reading: \"readable\", or the errno (ENOENT, EPERM, ...)"},
		{Key: "dev.kmsg_readable", Type: probes.TypeTri, Doc: "/dev/kmsg opens for reading, as the kubelet's OOM watcher needs"},
	}
	for _, d := range devicesList {
		specs = append(specs, probes.FactSpec{Key: d.key, Type: probes.TypeTri, Doc: d.doc})
	}
	return specs
}

// OpenTri judges an open(2) of a device: success is yes; a missing node
// (ENOENT, ENOTDIR), a node without a driver (ENXIO, ENODEV) and a denial
// (EPERM, EACCES) are a certain no; anything else is unknown.
func OpenTri(err error) probes.Tri {
	if err == nil {
		return probes.Yes
	}
	switch probes.Errno(err) {
	case "ENOENT", "ENOTDIR", "ENXIO", "ENODEV", "EPERM", "EACCES":
		return probes.No
	}
	return probes.Unknown
}

// Run opens each device and closes it at once.
func (Probe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()

	err := env.Sys.TryOpen("/dev/kmsg", oRDONLY)
	o.Note("open /dev/kmsg O_RDONLY", "", err)
	kmsg := "readable"
	if err != nil {
		kmsg = probes.Errno(err)
	}
	o.Set("dev.kmsg", kmsg)
	o.Set("dev.kmsg_readable", OpenTri(err))
	ev := probes.Evidence{Source: "open /dev/kmsg", Errno: probes.Errno(err)}
	switch kmsg {
	case "readable":
	case "ENOENT", "ENOTDIR", "ENXIO", "ENODEV":
		o.Find(CodeKmsgMissing, fmt.Sprintf("opening /dev/kmsg gives %s: the kubelet's OOM watcher cannot start", kmsg), ev)
	case "EPERM", "EACCES":
		o.Find(CodeKmsgDenied, fmt.Sprintf("opening /dev/kmsg gives %s: the kubelet's OOM watcher cannot start", kmsg), ev)
	}

	var tl probes.Tally
	tl.Add("kmsg", openText(err))
	for _, d := range devicesList {
		err := env.Sys.TryOpen(d.path, d.flags)
		o.Note("open "+d.path+" "+flagName(d.flags), "", err)
		o.Set(d.key, OpenTri(err))
		tl.Add(strings.TrimPrefix(d.path, "/dev/"), openText(err))
	}
	o.Summary = "open /dev/: " + tl.String()
	return o, nil
}

func openText(err error) string {
	if err == nil {
		return "ok"
	}
	return probes.Errno(err)
}

func flagName(f int) string {
	if f == oRDWR {
		return "O_RDWR"
	}
	return "O_RDONLY"
}
