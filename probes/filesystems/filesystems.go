// Package filesystems probes the filesystems a Kubernetes node would write
// to: the root, the engine's data dir, /var/lib/kubelet and /var/lib/rancher.
//
// Why: the kubelet's cAdvisor must map its root directory to a device it
// can stat (9p, FUSE, tmpfs, btrfs and ZFS roots make the kubelet refuse to
// start unless local storage capacity isolation is off), containerd's
// overlayfs snapshotter needs an upperdir the kernel's overlayfs accepts
// (not overlay, 9p, NFS or FUSE) with d_type, and both need free space
// above the kubelet's eviction thresholds.
//
// The filesystem type comes from /proc/self/mountinfo (parsed by
// probes/procfs into moby/sys/mountinfo's Info), corroborated by statfs(2); on disagreement statfs
// wins, since it answers for the path itself.
package filesystems

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/procfs"
)

// Probe is the filesystems probe.
type Probe struct{}

var _ probes.Probe = Probe{}

// Paths the probe examines besides the data dir.
const (
	KubeletDir = "/var/lib/kubelet"
	RancherDir = "/var/lib/rancher"
)

// Free space thresholds of the data dir.
const (
	WarnFreeBytes  = 2 << 30   // 2 GiB: images of a small cluster
	BlockFreeBytes = 500 << 20 // 500 MiB: not even k3s's own images
)

// Codes of the filesystems probe.
var (
	CodeKubeletStats = probes.Code{Code: "KP-FS-001", Severity: probes.Warn,
		Title:   "the kubelet cannot stat its filesystem",
		Meaning: "cAdvisor maps the kubelet's root dir (and containerd's, for the image filesystem) to a block device partition; on 9p, FUSE, virtiofs, tmpfs, btrfs or ZFS it cannot, and the kubelet stops with \"failed to get rootfs info: unable to find data in memory cache\" or reports InvalidDiskCapacity.",
		Fix:     "nothing to do: kprobe launch sets the kubelet's localStorageCapacityIsolation: false itself"}
	CodeSnapshotter = probes.Code{Code: "KP-FS-002", Severity: probes.Warn,
		Title:   "the data dir's filesystem cannot be an overlayfs upper layer",
		Meaning: "containerd's overlayfs snapshotter keeps its layers under the data dir; the kernel refuses overlay, 9p, NFS, CIFS and FUSE filesystems as upperdir, so k3s fails with \"overlayfs snapshotter cannot be enabled\".",
		Fix:     "nothing to do: kprobe launch picks containerd's fuse-overlayfs snapshotter when /dev/fuse and the fuse-overlayfs binary are present, otherwise the native one; or put the data dir on ext4, xfs or tmpfs: kprobe launch --data-dir DIR"}
	CodeDataDir9p = probes.Code{Code: "KP-FS-003", Severity: probes.Warn,
		Title:   "the data dir is on 9p",
		Meaning: "gVisor's 9p gofer root serves neither overlayfs, nor cAdvisor, nor the locking the datastore expects; k3s runs when its data dir is on a tmpfs.",
		Fix:     "nothing to do: kprobe launch puts its data dir on a tmpfs itself (/tmp/kprobe/data); or name a directory on a tmpfs: kprobe launch --data-dir DIR"}
	CodeLowSpace = probes.Code{Code: "KP-FS-004", Severity: probes.Warn,
		Title:   "less than 2 GiB free for the data dir",
		Meaning: "k3s unpacks its own images (about 500 MiB) and every workload image into the data dir; below 2 GiB a small cluster runs out of space.",
		Fix:     "free space on that filesystem, or move the data dir: kprobe launch --data-dir /path/with/space"}
	CodeNoSpace = probes.Code{Code: "KP-FS-005", Severity: probes.Block,
		Title:   "less than 500 MiB free for the data dir",
		Meaning: "k3s cannot even unpack its bundled images and the kubelet evicts everything under disk pressure.",
		Fix:     "free space on that filesystem, or move the data dir: kprobe launch --data-dir /path/with/space"}
	CodeNoDType = probes.Code{Code: "KP-FS-006", Severity: probes.Warn,
		Title:   "the data dir's filesystem has no d_type (xfs ftype=0)",
		Meaning: "overlayfs needs d_type from its layers; containerd's overlayfs snapshotter refuses xfs formatted with ftype=0.",
		Fix:     "nothing to do: kprobe launch uses containerd's native snapshotter there; or put the data dir on ext4 or xfs with ftype=1 (mkfs.xfs -n ftype=1): kprobe launch --data-dir DIR"}
	CodeEviction = probes.Code{Code: "KP-FS-007", Severity: probes.Warn,
		Title:   "free space below the kubelet's default eviction thresholds",
		Meaning: "the kubelet evicts pods and taints the node with DiskPressure when nodefs.available < 10% or imagefs.available < 15%; on a mostly full disk no pod stays scheduled.",
		Fix:     "nothing to do: kprobe launch sets the kubelet's evictionHard to imagefs.available<1%,nodefs.available<1% itself; or free space"}
)

func (Probe) ID() string            { return "filesystems" }
func (Probe) Domain() probes.Domain { return probes.DomainFS }
func (Probe) Mode() probes.Mode     { return probes.Passive }
func (Probe) Codes() []probes.Code {
	return []probes.Code{CodeKubeletStats, CodeSnapshotter, CodeDataDir9p, CodeLowSpace, CodeNoSpace, CodeNoDType, CodeEviction}
}

func (Probe) Facts() []probes.FactSpec {
	s := []probes.FactSpec{
		{Key: "fs.mount_count", Type: probes.TypeInt, Doc: "mounts in /proc/self/mountinfo"},
		{Key: "fs.root.type", Type: probes.TypeString, Doc: "filesystem type of / (mountinfo, corrected by statfs)"},
		{Key: "fs.root.source", Type: probes.TypeString, Doc: "mount source of / (/dev/vda, runsc-root, overlay, ...)"},
		{Key: "fs.datadir.path", Type: probes.TypeString, Doc: "the engine data dir examined (k3s --data-dir)"},
		{Key: "fs.datadir.exists", Type: probes.TypeTri, Doc: "the data dir exists already"},
		{Key: "fs.datadir.existing", Type: probes.TypeString, Doc: "the data dir or its nearest existing ancestor, whose filesystem the engine will use"},
		{Key: "fs.datadir.dtype", Type: probes.TypeTri, Doc: "the data dir's filesystem fills d_type in readdir (xfs needs ftype=1)"},
		{Key: "fs.datadir.overlay_upper", Type: probes.TypeTri, Doc: "by its type, the data dir's filesystem can be an overlayfs upperdir (the overlay probe tries it)"},
	}
	for _, t := range targets {
		if t.mountpoint {
			s = append(s, probes.FactSpec{Key: "fs." + t.key + ".mountpoint", Type: probes.TypeString, Doc: "mount point of the mount holding " + t.what})
		}
		if t.key != "root" {
			s = append(s, probes.FactSpec{Key: "fs." + t.key + ".type", Type: probes.TypeString, Doc: "filesystem type of " + t.what + " (mountinfo, corrected by statfs)"})
		}
		if t.detail {
			s = append(s,
				probes.FactSpec{Key: "fs." + t.key + ".fstype_statfs", Type: probes.TypeString, Doc: "statfs(2) f_type of " + t.what + ": a name (ext4, 9p, overlay, ...) or the hex magic"},
				probes.FactSpec{Key: "fs." + t.key + ".block_device", Type: probes.TypeTri, Doc: t.what + " is on a block device cAdvisor can stat"},
				probes.FactSpec{Key: "fs." + t.key + ".free_bytes", Type: probes.TypeInt, Doc: "bytes available to unprivileged users on the filesystem of " + t.what + " (statfs bavail*bsize)"},
				probes.FactSpec{Key: "fs." + t.key + ".size_bytes", Type: probes.TypeInt, Doc: "size of the filesystem of " + t.what + " (statfs blocks*bsize)"},
			)
		}
		if t.stats {
			s = append(s, probes.FactSpec{Key: "fs." + t.key + ".kubelet_stats", Type: probes.TypeTri, Doc: "cAdvisor (in the kubelet) can stat the filesystem of " + t.what})
		}
	}
	return s
}

// target is a path the probe examines; key names its facts.
type target struct {
	key, what  string
	mountpoint bool // record the mount point
	detail     bool // record statfs, block device and space
	stats      bool // judge cAdvisor
}

var targets = []target{
	{key: "root", what: "/", detail: true},
	{key: "datadir", what: "the data dir", mountpoint: true, detail: true, stats: true},
	{key: "kubelet", what: KubeletDir, mountpoint: true, detail: true, stats: true},
	{key: "rancher", what: RancherDir, mountpoint: true},
}

// Place is what the probe learnt about one path.
type Place struct {
	Path     string // as asked
	Existing string // nearest existing ancestor (Path itself when it exists)
	Exists   bool
	Real     string          // Existing with symlinks resolved
	Mount    *mountinfo.Info // the mount holding Real, nil when unknown
	Statfs   *probes.Statfs  // nil when statfs failed
	Type     string          // effective filesystem type
	Family   string          // Family(Type)
	Block    probes.Tri      // on a block device cAdvisor can stat
	Evidence []probes.Evidence
}

// Examine finds the filesystem that holds (or will hold) the absolute path
// p: mountinfo gives the mount, statfs corroborates its type.
func Examine(env *probes.Env, mounts []*mountinfo.Info, p string) *Place {
	pl := &Place{Path: p}
	pl.Real = RealPath(env.Root, p)
	pl.Existing, pl.Exists = NearestExisting(env.Root, pl.Real)
	pl.Mount = procfs.MountFor(mounts, pl.Existing)
	note := func(src, excerpt string, err error) {
		pl.Evidence = append(pl.Evidence, probes.Evidence{Source: src, Excerpt: excerpt, Errno: probes.Errno(err)})
	}
	st, err := env.Sys.Statfs(pl.Existing)
	statfsName := ""
	if err != nil {
		note("statfs "+pl.Existing, "", err)
	} else {
		pl.Statfs = &st
		statfsName = MagicName(st.Type)
	}
	mountType := ""
	if pl.Mount != nil {
		mountType = pl.Mount.FSType
		note("mountinfo", fmt.Sprintf("%s holds %s: %s %s", pl.Mount.Mountpoint, pl.Existing, pl.Mount.FSType, pl.Mount.Source), nil)
	}
	switch {
	case mountType != "" && (statfsName == "" || agree(Family(mountType), statfsName)):
		pl.Type = mountType
	case statfsName != "" && !strings.HasPrefix(statfsName, "0x"):
		if mountType != "" {
			note("statfs "+pl.Existing, fmt.Sprintf("f_type is %s but mountinfo says %s; using statfs", statfsName, mountType), nil)
		}
		pl.Type = statfsName
	default:
		pl.Type = mountType // "" when neither knows
	}
	pl.Family = Family(pl.Type)
	pl.Block = blockDevice(env, pl, mountType)
	return pl
}

func agree(family, statfsName string) bool {
	return family == statfsName || strings.HasPrefix(statfsName, "0x") ||
		family == "virtiofs" && statfsName == "fuse"
}

// nodev families never sit on a block device.
var nodev = map[string]bool{"tmpfs": true, "ramfs": true, "overlay": true, "9p": true, "fuse": true,
	"virtiofs": true, "nfs": true, "cifs": true, "zfs": true}

// blockDevice: mountinfo's major:minor is the st_dev of the filesystem;
// major 0 is an anonymous device (virtual, remote or pooled filesystems).
// btrfs reports an anonymous device too, and cAdvisor then stats the mount
// source, so a btrfs mount counts when its /dev node is visible.
func blockDevice(env *probes.Env, pl *Place, mountType string) probes.Tri {
	if pl.Mount == nil || Family(mountType) != pl.Family {
		if nodev[pl.Family] {
			return probes.No
		}
		return probes.Unknown
	}
	m := pl.Mount
	switch {
	case m.Major != 0:
		return probes.Yes
	case pl.Family == "btrfs" && strings.HasPrefix(m.Source, "/dev/"):
		fi, err := fs.Stat(env.Root, rel(m.Source))
		if err != nil {
			pl.Evidence = append(pl.Evidence, probes.Evidence{Source: m.Source, Errno: probes.Errno(err),
				Excerpt: "btrfs device node not visible"})
			return probes.No
		}
		return probes.TriOf(fi.Mode()&fs.ModeDevice != 0)
	}
	return probes.No
}

// FreeBytes is statfs bavail*bsize, saturated.
func FreeBytes(st *probes.Statfs) int64 { return mul(st.Bavail, st.Bsize) }

// SizeBytes is statfs blocks*bsize, saturated.
func SizeBytes(st *probes.Statfs) int64 { return mul(st.Blocks, st.Bsize) }

func mul(n uint64, bsize int64) int64 {
	if bsize <= 0 {
		return 0
	}
	if n > uint64(math.MaxInt64/bsize) {
		return math.MaxInt64
	}
	return int64(n) * bsize
}

// Run examines /, the data dir, /var/lib/kubelet and /var/lib/rancher.
func (Probe) Run(ctx context.Context, env *probes.Env) (*probes.Observation, error) {
	o := probes.NewObservation()
	raw, err := fs.ReadFile(env.Root, "proc/self/mountinfo")
	var mounts []*mountinfo.Info
	if err != nil {
		o.Note("/proc/self/mountinfo", "", err)
	} else {
		// A malformed line costs that line, not the table.
		var perr error
		if mounts, perr = procfs.ParseMountinfo(bytes.NewReader(raw)); perr != nil {
			o.Note("/proc/self/mountinfo", "", perr)
		}
		o.Set("fs.mount_count", len(mounts))
	}

	dataDir := env.DataDir
	if dataDir == "" {
		dataDir = probes.DefaultDataDir
	}
	if !path.IsAbs(dataDir) {
		o.Note("data dir", dataDir+" is not absolute; examined from /", nil)
	}
	dataDir = path.Clean("/" + dataDir)

	places := map[string]*Place{}
	for _, t := range targets {
		p := t.what
		if t.key == "datadir" {
			p = dataDir
		}
		pl := Examine(env, mounts, p)
		places[t.key] = pl
		for _, ev := range pl.Evidence {
			if !slices.Contains(o.Evidence, ev) {
				o.Evidence = append(o.Evidence, ev)
			}
		}
		pre := "fs." + t.key + "."
		if pl.Type != "" {
			o.Set(pre+"type", pl.Type)
		}
		if t.mountpoint && pl.Mount != nil {
			o.Set(pre+"mountpoint", pl.Mount.Mountpoint)
		}
		if t.detail {
			o.Set(pre+"block_device", pl.Block)
			if pl.Statfs != nil {
				o.Set(pre+"fstype_statfs", MagicName(pl.Statfs.Type))
				o.Set(pre+"free_bytes", FreeBytes(pl.Statfs))
				o.Set(pre+"size_bytes", SizeBytes(pl.Statfs))
			}
		}
		if t.stats {
			o.Set(pre+"kubelet_stats", kubeletStats(pl))
		}
	}
	root, dd, kl := places["root"], places["datadir"], places["kubelet"]
	if root.Mount != nil {
		o.Set("fs.root.source", root.Mount.Source)
	}
	o.Set("fs.datadir.path", dataDir)
	o.Set("fs.datadir.exists", probes.TriOf(dd.Exists))
	o.Set("fs.datadir.existing", dd.Existing)
	o.Set("fs.datadir.overlay_upper", OverlayUpper(dd.Family))
	dt := dtype(ctx, env, o, dd)
	o.Set("fs.datadir.dtype", dt)

	judge(env, o, mounts, dd, kl, dt)
	o.Summary = summary(root, dd, kl)
	return o, nil
}

// summary says what each path is on: "/ ext4 (/dev/vda, 78.0 GiB free);
// data dir on / (not created yet); kubelet dir on /".
func summary(root, dd, kl *Place) string {
	desc := func(pl *Place) string {
		d := pl.Type
		if d == "" {
			d = "of unknown type"
		}
		var more []string
		if m := pl.Mount; m != nil && m.Mountpoint == "/" && m.FSType == pl.Type && m.Source != "" && m.Source != m.FSType && m.Source != "none" {
			more = append(more, m.Source)
		}
		if pl.Statfs != nil {
			more = append(more, human(FreeBytes(pl.Statfs))+" free")
		}
		if len(more) > 0 {
			d += " (" + strings.Join(more, ", ") + ")"
		}
		return d
	}
	on := func(pl *Place) string {
		switch {
		case pl.Mount == nil || pl.Mount.FSType != pl.Type: // statfs overruled mountinfo
			return desc(pl)
		case pl.Mount == root.Mount && pl.Type == root.Type:
			return "on /"
		}
		return "on " + pl.Mount.Mountpoint + ": " + desc(pl)
	}
	s := "/ " + desc(root) + "; data dir " + on(dd)
	if !dd.Exists {
		s += " (not created yet)"
	}
	return s + "; kubelet dir " + on(kl)
}

// kubeletStats adds to KubeletStats what statfs shows: a filesystem that
// reports zero blocks (FUSE does) gives the kubelet "invalid capacity 0".
func kubeletStats(pl *Place) probes.Tri {
	if pl.Statfs != nil && pl.Statfs.Blocks == 0 {
		return probes.No
	}
	return KubeletStats(pl.Family, pl.Block)
}

// dtype answers d_type support from the family, and for xfs from the ftype
// that xfs_info prints, when xfs_info is installed.
func dtype(ctx context.Context, env *probes.Env, o *probes.Observation, pl *Place) probes.Tri {
	if pl.Family != "xfs" {
		return DType(pl.Family)
	}
	if _, err := env.Sys.LookPath("xfs_info"); err != nil {
		o.Note("xfs_info", "not installed: xfs ftype unknown", err)
		return probes.Unknown
	}
	res, err := env.Sys.Exec(ctx, "xfs_info", pl.Existing)
	if err != nil || res.ExitCode != 0 {
		o.Note("xfs_info "+pl.Existing, strings.TrimSpace(res.Stderr), err)
		return probes.Unknown
	}
	t := XfsFtype(res.Stdout)
	if m := ftypeRe.FindString(res.Stdout); m != "" {
		o.Note("xfs_info "+pl.Existing, m, nil)
	}
	return t
}

func judge(env *probes.Env, o *probes.Observation, mounts []*mountinfo.Info, dd, kl *Place, dt probes.Tri) {
	var broken []string
	var ev probes.Evidence
	for _, pl := range []*Place{kl, dd} {
		if kubeletStats(pl) != probes.No {
			continue
		}
		why := pl.Type
		if pl.Statfs != nil && pl.Statfs.Blocks == 0 {
			why += ", statfs reports 0 blocks"
		}
		broken = append(broken, fmt.Sprintf("%s (%s)", pl.Path, why))
		if ev.Source == "" {
			ev = placeEvidence(pl)
		}
	}
	if len(broken) > 0 {
		o.Find(CodeKubeletStats, "cAdvisor cannot stat "+strings.Join(broken, " and "), ev)
	}

	if OverlayUpper(dd.Family) == probes.No {
		o.Find(CodeSnapshotter, fmt.Sprintf("data dir %s would be on %s, which overlayfs refuses as upperdir", dd.Path, dd.Type), placeEvidence(dd))
	}
	if dd.Family == "9p" {
		dir := tmpfsDir(env, mounts)
		fix := "nothing to do: kprobe launch puts its data dir on a tmpfs itself; or name one: kprobe launch --data-dir " + path.Join(dir, "kprobe-data")
		if dir == "" {
			fix = CodeDataDir9p.Fix
		}
		o.FindFix(CodeDataDir9p, fmt.Sprintf("data dir %s would be on 9p", dd.Path), placeEvidence(dd), fix)
	}
	if dd.Statfs != nil {
		free := FreeBytes(dd.Statfs)
		msg := fmt.Sprintf("%s free on %s for data dir %s", human(free), dd.Existing, dd.Path)
		switch {
		case free < BlockFreeBytes:
			o.Find(CodeNoSpace, msg, placeEvidence(dd))
		case free < WarnFreeBytes:
			o.Find(CodeLowSpace, msg, placeEvidence(dd))
		}
	}
	if dt == probes.No {
		o.Find(CodeNoDType, fmt.Sprintf("%s is xfs with ftype=0", dd.Existing), placeEvidence(dd))
	}
	// nodefs is the kubelet's filesystem, imagefs the data dir's
	// (containerd's root); the kubelet's defaults evict below 10% and 15%.
	var low []string
	for _, c := range []struct {
		pl    *Place
		name  string
		limit float64
	}{{kl, "nodefs", 0.10}, {dd, "imagefs", 0.15}} {
		if c.pl.Statfs == nil || c.pl.Statfs.Blocks == 0 {
			continue
		}
		if r := float64(c.pl.Statfs.Bavail) / float64(c.pl.Statfs.Blocks); r < c.limit {
			low = append(low, fmt.Sprintf("%s %s has %.1f%% available (eviction below %.0f%%)", c.name, c.pl.Existing, r*100, c.limit*100))
		}
	}
	if len(low) > 0 {
		o.Find(CodeEviction, strings.Join(low, "; "), placeEvidence(dd))
	}
}

func placeEvidence(pl *Place) probes.Evidence {
	ex := fmt.Sprintf("%s: %s", pl.Existing, pl.Type)
	if pl.Mount != nil {
		ex = fmt.Sprintf("%s on %s (%s %s)", pl.Existing, pl.Mount.Mountpoint, pl.Mount.FSType, pl.Mount.Source)
	}
	if pl.Statfs != nil {
		ex += fmt.Sprintf(", statfs f_type %s", MagicName(pl.Statfs.Type))
	}
	return probes.Evidence{Source: "/proc/self/mountinfo", Excerpt: ex}
}

// tmpfsDir picks a tmpfs mount with room for a data dir (WarnFreeBytes):
// /run, /tmp or /dev/shm, in that order ("" when none).
func tmpfsDir(env *probes.Env, mounts []*mountinfo.Info) string {
	for _, d := range []string{"/run", "/tmp", "/dev/shm"} {
		m := procfs.MountFor(mounts, d)
		if m == nil || m.Mountpoint != d || m.FSType != "tmpfs" {
			continue
		}
		if st, err := env.Sys.Statfs(d); err == nil && FreeBytes(&st) >= WarnFreeBytes {
			return d
		}
	}
	return ""
}

func human(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", b)
}
