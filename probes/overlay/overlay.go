// Package overlay tries to mount overlayfs the way containerd's overlayfs
// snapshotter does, with the upper layer on a tmpfs and on the data dir's
// filesystem, with and without a new user namespace.
//
// Why: the overlayfs snapshotter is k3s's default and its fastest; where
// the kernel refuses the mount (overlay on overlay in podman, 9p in gVisor,
// no CAP_SYS_ADMIN) k3s stops with "overlayfs snapshotter cannot be
// enabled" unless told to use fuse-overlayfs (needs the binary and
// /dev/fuse) or native. Rootless k3s mounts inside a user namespace, where
// older kernels refuse overlay or its whiteouts.
package overlay

import (
	"strings"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/filesystems"
)

// Probe is the overlay probe. It is active: it mounts.
type Probe struct{}

var _ probes.Probe = Probe{}

// Codes of the overlay probe.
var (
	CodeDataDir = probes.Code{Code: "KP-OVL-001", Severity: probes.Warn,
		Title:   "overlayfs cannot be mounted on the data dir's filesystem",
		Meaning: "containerd's overlayfs snapshotter (k3s's default) mounts overlay with its layers under the data dir; here the kernel refuses, and k3s stops with \"overlayfs snapshotter cannot be enabled\".",
		Fix:     "nothing to do: kprobe launch picks containerd's fuse-overlayfs snapshotter when /dev/fuse and the fuse-overlayfs binary are present, otherwise the native one; or put the data dir on ext4, xfs or tmpfs: kprobe launch --data-dir DIR"}
	CodeUserns = probes.Code{Code: "KP-OVL-002", Severity: probes.Info,
		Title:   "overlayfs does not work inside a user namespace",
		Meaning: "rootless k3s (--rootless) runs containerd in a user namespace; there overlay cannot be mounted or cannot create whiteouts (\"failed to convert whiteout file ... operation not permitted\").",
		Fix:     "nothing to do: in a user namespace kprobe launch picks the fuse-overlayfs snapshotter when /dev/fuse and the fuse-overlayfs binary are present, otherwise the native one"}
)

func (Probe) ID() string            { return "overlay" }
func (Probe) Domain() probes.Domain { return probes.DomainFS }
func (Probe) Mode() probes.Mode     { return probes.Active }
func (Probe) Codes() []probes.Code  { return []probes.Code{CodeDataDir, CodeUserns} }
func (Probe) Facts() []probes.FactSpec {
	return []probes.FactSpec{
		{Key: "overlay.listed", Type: probes.TypeTri, Doc: "overlay is in /proc/filesystems (it may also load on first mount)"},
		{Key: "overlay.mount_tmpfs", Type: probes.TypeTri, Doc: "overlay mounts with upper and work dirs on a tmpfs (new mount namespace, no new user namespace)"},
		{Key: "overlay.mount_datadir", Type: probes.TypeTri, Doc: "overlay mounts with upper and work dirs on the data dir's filesystem (new mount namespace)"},
		{Key: "overlay.userns_tmpfs", Type: probes.TypeTri, Doc: "as mount_tmpfs, inside a new user namespace mapping root to our uid (the tmpfs mounted there too)"},
		{Key: "overlay.userns_datadir", Type: probes.TypeTri, Doc: "as mount_datadir, inside a new user namespace mapping root to our uid"},
		{Key: "overlay.userns_whiteout", Type: probes.TypeTri, Doc: "deleting a lower file through an overlay mounted in a user namespace works (whiteout, mknod 0:0)"},
		{Key: "overlay.datadir_path", Type: probes.TypeString, Doc: "the data dir or its nearest existing ancestor, whose filesystem the data dir trials test: their scratch dir goes under it, or under the probe's temp dir when that is on the same filesystem and this one is not writable"},
		{Key: "overlay.fuse_overlayfs", Type: probes.TypeTri, Doc: "the fuse-overlayfs binary is on PATH"},
		{Key: "overlay.dev_fuse", Type: probes.TypeTri, Doc: "/dev/fuse opens read-write"},
	}
}

// ParseFilesystems parses /proc/filesystems ("nodev\toverlay", "\text4")
// into the set of filesystem names the kernel has registered.
func ParseFilesystems(text string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] != "nodev":
			out[f[0]] = true
		case len(f) == 2 && f[0] == "nodev" && f[1] != "nodev":
			out[f[1]] = true
		}
	}
	return out
}

// Mounted reads an overlay trial: Yes when overlay mounted, No when the
// kernel refused it or the tmpfs under it, Unknown when the trial could
// not get that far (scratch dirs not creatable) or left no record.
func Mounted(s filesystems.Steps) probes.Tri {
	if t := s.Tri("mount"); t != probes.Unknown {
		return t
	}
	if s.Tri("tmpfs") == probes.No {
		return probes.No
	}
	return probes.Unknown
}

// summary says where overlay mounts: "mounts on tmpfs and the data dir,
// also in a user namespace; fuse-overlayfs yes, /dev/fuse yes".
func summary(f probes.Facts) string {
	tri := func(k string) probes.Tri { return f.Tri("overlay." + k) }
	word := map[probes.Tri]string{probes.Yes: "mounts", probes.No: "refused", probes.Unknown: "not tried"}
	pair := func(tmpfs, datadir probes.Tri) string {
		if tmpfs == datadir {
			return word[tmpfs] + " on tmpfs and the data dir"
		}
		return word[tmpfs] + " on tmpfs, " + word[datadir] + " on the data dir"
	}
	t, d := tri("mount_tmpfs"), tri("mount_datadir")
	ut, ud := tri("userns_tmpfs"), tri("userns_datadir")
	s := pair(t, d)
	if ut == t && ud == d {
		s += ", also in a user namespace"
	} else {
		s += "; in a user namespace " + pair(ut, ud)
	}
	if tri("userns_whiteout") == probes.No {
		s += " (no whiteouts)"
	}
	return s + "; fuse-overlayfs " + tri("fuse_overlayfs").String() + ", /dev/fuse " + tri("dev_fuse").String()
}

// judge sets the summary and turns the facts into findings.
func judge(o *probes.Observation, datadirEv probes.Evidence) {
	f := o.Facts
	o.Summary = summary(f)
	if f.Tri("overlay.mount_datadir") == probes.No {
		fix := "nothing to do: kprobe launch uses containerd's native snapshotter here"
		why := "fuse-overlayfs is not usable here"
		if f.Tri("overlay.fuse_overlayfs") == probes.Yes && f.Tri("overlay.dev_fuse") == probes.Yes {
			fix, why = "nothing to do: kprobe launch uses containerd's fuse-overlayfs snapshotter here", "fuse-overlayfs and /dev/fuse are present"
		}
		sum := "overlay refused with its upper dir under " + f.String("overlay.datadir_path")
		if datadirEv.Errno != "" {
			sum += " (" + datadirEv.Errno + ")"
		}
		sum += "; " + why
		if f.Tri("overlay.mount_tmpfs") == probes.Yes {
			sum += "; overlay works on a tmpfs, so a data dir on a tmpfs would keep the overlayfs snapshotter"
		}
		if f.Tri("overlay.userns_datadir") == probes.Yes {
			// Refused for lack of privilege, allowed in a user namespace:
			// a cluster in a user namespace keeps the overlayfs snapshotter.
			sum += "; it works inside a user namespace"
			fix += "; overlay works inside a user namespace, so kprobe run as root of one (unshare --user --map-root-user --mount --pid --fork) keeps the overlayfs snapshotter"
		}
		o.FindFix(CodeDataDir, sum, datadirEv, fix)
	}
	nsOK := f.Tri("overlay.mount_datadir") == probes.Yes || f.Tri("overlay.mount_tmpfs") == probes.Yes
	usernsBad := f.Tri("overlay.userns_datadir") == probes.No && f.Tri("overlay.userns_tmpfs") == probes.No
	if nsOK && (usernsBad || f.Tri("overlay.userns_whiteout") == probes.No) {
		what := "overlay cannot be mounted in a user namespace"
		if !usernsBad {
			what = "overlay in a user namespace cannot create whiteouts"
		}
		o.Find(CodeUserns, what+", though it mounts without one", probes.Evidence{Source: "overlay trial in a new user namespace",
			Excerpt: "userns_tmpfs=" + f.Tri("overlay.userns_tmpfs").String() + " userns_datadir=" + f.Tri("overlay.userns_datadir").String() +
				" userns_whiteout=" + f.Tri("overlay.userns_whiteout").String()})
	}
}
