// Package mounts probes mount propagation and bind mounts.
//
// Why: the kubelet refuses pods whose volumes ask for mount propagation
// when their mount is not shared ("path / is mounted on / but it is not a
// shared mount"); k3s-in-Docker entrypoints run `mount --make-rshared /`
// first (kind fix_mount, k3d K3D_FIX_MOUNTS). runc bind-mounts every pod's
// /etc/hosts, resolv.conf and service account token with MS_BIND|MS_REC;
// where rbind is refused (gVisor: EINVAL) no pod starts.
//
// The "mounts" probe reads the propagation of / from mountinfo (passive);
// "mounts.rshared" tries to make / rshared and to rbind a directory, in a
// mount namespace of its own only (active).
package mounts

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/moby/sys/mountinfo"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/filesystems"
	"github.com/kprobe/kprobe/probes/procfs"
)

// Probe reads mount propagation from mountinfo.
type Probe struct{}

// RShared tries to make / rshared and to rbind, in private namespaces.
type RShared struct{}

var (
	_ probes.Probe = Probe{}
	_ probes.Probe = RShared{}
)

// Codes of the mounts probes.
var (
	CodeNotShared = probes.Code{Code: "KP-MNT-001", Severity: probes.Warn,
		Title:   "/ is not a shared mount",
		Meaning: "the kubelet rejects pods whose volumes use mount propagation (CSI node plugins, some storage provisioners) with \"path / is mounted on / but it is not a shared mount\". kprobe launch makes / rshared in the cluster's own mount namespace, so this matters only where that is refused (KP-MNT-002).",
		Fix:     "nothing to do: kprobe launch makes / rshared itself in the cluster's own mount namespace (the rshared shim); the host's / stays as it is"}
	CodeNoRShared = probes.Code{Code: "KP-MNT-002", Severity: probes.Warn,
		Title:   "/ cannot be made rshared",
		Meaning: "`mount --make-rshared /` is refused even in a mount namespace of our own, so pods that need mount propagation cannot run.",
		Fix:     "run the sandbox with CAP_SYS_ADMIN (docker run --privileged), where kprobe launch makes / rshared itself; otherwise avoid pods with mountPropagation"}
	CodeNoRBind = probes.Code{Code: "KP-MNT-003", Severity: probes.Block,
		Title:   "recursive bind mounts are refused",
		Meaning: "runc bind-mounts each pod's /etc/hosts, resolv.conf and service account token with MS_BIND|MS_REC and containerd mounts snapshots the same way; where the kernel refuses (gVisor: EINVAL; no CAP_SYS_ADMIN and no user namespace: EPERM) no pod can start.",
		Fix:     "no container can start here: kprobe launch runs pods as processes (TP) or the control plane only (T3); for containers use a sandbox with CAP_SYS_ADMIN or user namespaces"}
	CodeRBindUserns = probes.Code{Code: "KP-MNT-004", Severity: probes.Warn,
		Title:   "bind mounts work only inside a user namespace",
		Meaning: "without a user namespace the kernel refuses rbind here, but in a new user namespace it allows it: containerd and runc can work only in rootless mode.",
		Fix:     "run kprobe as root of a user namespace (unshare --user --map-root-user --mount --pid --fork), where kprobe launch sets the kubelet's KubeletInUserNamespace feature gate itself; otherwise it runs pods as processes (TP)"}
)

func (Probe) ID() string            { return "mounts" }
func (Probe) Domain() probes.Domain { return probes.DomainFS }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code  { return []probes.Code{CodeNotShared} }
func (Probe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "mount.root_propagation", Type: probes.TypeString, Doc: "propagation of the / mount: shared, slave, private or unknown (unbindable counts as private)"},
		{Key: "mount.root_optional", Type: probes.TypeString, Doc: "the optional fields of the / mount in mountinfo (\"shared:1\", \"master:2\", \"\")"},
		{Key: "mount.kubelet_propagation", Type: probes.TypeString, Doc: "propagation of the mount holding /var/lib/kubelet (or its nearest existing ancestor)"},
	}
}

func (RShared) ID() string            { return "mounts.rshared" }
func (RShared) Domain() probes.Domain { return probes.DomainFS }
func (RShared) Mode() probes.Mode     { return probes.Active }
func (RShared) Codes() []probes.Code {
	return []probes.Code{CodeNoRShared, CodeNoRBind, CodeRBindUserns}
}
func (RShared) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "mount.rshared_possible", Type: probes.TypeTri, Doc: "mount(\"\", \"/\", MS_REC|MS_SHARED) works and shows in mountinfo, in a mount namespace of our own; where MS_REC gives EINVAL (gVisor), MS_SHARED on / alone (the rshared shim goes mount by mount)"},
		{Key: "mount.rbind", Type: probes.TypeTri, Doc: "MS_BIND|MS_REC of a directory onto another works (without a new user namespace)"},
		{Key: "mount.userns_rshared", Type: probes.TypeTri, Doc: "as rshared_possible, in a new user+mount namespace mapping root to our uid"},
		{Key: "mount.userns_rbind", Type: probes.TypeTri, Doc: "as rbind, in a new user+mount namespace mapping root to our uid"},
	}
}

// Propagation reads the optional fields of a mountinfo line ("shared:1
// master:2"): shared when it has a peer group, slave when it only has a
// master, private otherwise (unbindable included).
func Propagation(optional string) string {
	slave := false
	for _, f := range strings.Fields(optional) {
		tag, _, _ := strings.Cut(f, ":")
		switch tag {
		case "shared":
			return "shared"
		case "master":
			slave = true
		}
	}
	if slave {
		return "slave"
	}
	return "private"
}

// KubeletDir is the kubelet's root dir; its mount is the one that must be
// shared.
const KubeletDir = "/var/lib/kubelet"

// Run reads the propagation of / and of the kubelet's dir.
func (Probe) Run(_ context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	raw, err := fs.ReadFile(env.Root, "proc/self/mountinfo")
	if err != nil {
		o.Set("mount.root_propagation", "unknown")
		o.Note("/proc/self/mountinfo", "", err)
		return o, err
	}
	mounts, perr := procfs.ParseMountinfo(bytes.NewReader(raw))
	if perr != nil {
		o.Note("/proc/self/mountinfo", "", perr) // malformed lines are skipped
	}
	root := procfs.MountFor(mounts, "/")
	if root == nil || root.Mountpoint != "/" {
		o.Set("mount.root_propagation", "unknown")
		o.Note("/proc/self/mountinfo", "no mount for /", nil)
		o.Summary = "propagation of / unknown: no mount for / in mountinfo"
		return o, nil
	}
	prop := Propagation(root.Optional)
	o.Set("mount.root_propagation", prop)
	o.Set("mount.root_optional", root.Optional)
	o.Note("/proc/self/mountinfo", excerpt(root), nil)

	kdir, _ := filesystems.NearestExisting(env.Root, filesystems.RealPath(env.Root, KubeletDir))
	km := procfs.MountFor(mounts, kdir)
	kprop := Propagation(km.Optional) // km is never nil: / contains kdir
	o.Set("mount.kubelet_propagation", kprop)
	o.Summary = "/ is " + prop
	if root.Optional != "" {
		o.Summary += " (" + root.Optional + ")"
	}
	if km == root {
		o.Summary += "; " + KubeletDir + " is on /"
	} else {
		o.Summary += "; " + KubeletDir + " is on " + km.Mountpoint + ", " + kprop
	}
	if kprop != "shared" {
		sum := "/ is a " + prop + " mount (no shared:N peer group)"
		if km != root {
			sum = fmt.Sprintf("%s, which holds %s, is a %s mount", km.Mountpoint, KubeletDir, kprop)
		}
		o.Find(CodeNotShared, sum, probes.Evidence{Source: "/proc/self/mountinfo", Excerpt: excerpt(km)})
	}
	return o, nil
}

// excerpt rebuilds the identifying part of a mountinfo line.
func excerpt(m *mountinfo.Info) string {
	f := []string{fmt.Sprint(m.ID), fmt.Sprint(m.Parent), fmt.Sprintf("%d:%d", m.Major, m.Minor), m.Root, m.Mountpoint, m.Options}
	if m.Optional != "" {
		f = append(f, m.Optional)
	}
	return strings.Join(append(f, "-", m.FSType, m.Source), " ")
}

// rsharedSummary says what mounts.rshared could do: "rshared / and rbind
// ok, also in a user namespace".
func rsharedSummary(f probes.Facts) string {
	word := map[probes.Tri]string{probes.Yes: "ok", probes.No: "refused", probes.Unknown: "not tried"}
	pair := func(rshared, rbind probes.Tri) string {
		if rshared == rbind {
			return "rshared / and rbind " + word[rshared]
		}
		return "rshared / " + word[rshared] + ", rbind " + word[rbind]
	}
	rs, rb := f.Tri("mount.rshared_possible"), f.Tri("mount.rbind")
	urs, urb := f.Tri("mount.userns_rshared"), f.Tri("mount.userns_rbind")
	if urs == rs && urb == rb {
		return pair(rs, rb) + ", also in a user namespace"
	}
	return pair(rs, rb) + "; in a user namespace " + pair(urs, urb)
}

// judge sets the summary of mounts.rshared and turns its facts into
// findings.
func judge(o *probes.Observation, ev probes.Evidence) {
	f := o.Facts
	o.Summary = rsharedSummary(f)
	if f.Tri("mount.rshared_possible") == probes.No {
		sum := "mount --make-rshared / is refused in a mount namespace of our own"
		if f.Tri("mount.userns_rshared") == probes.Yes {
			sum += " (it works inside a new user namespace: rootless mode)"
		}
		o.Find(CodeNoRShared, sum, ev)
	}
	rb, urb := f.Tri("mount.rbind"), f.Tri("mount.userns_rbind")
	switch {
	case rb == probes.No && urb == probes.No:
		o.Find(CodeNoRBind, "MS_BIND|MS_REC is refused with and without a user namespace", ev)
	case rb == probes.No && urb == probes.Yes:
		o.Find(CodeRBindUserns, "MS_BIND|MS_REC is refused, but works in a new user namespace", ev)
	}
}
