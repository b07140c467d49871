package filesystems

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/kprobe/kprobe/probes"
)

// statfs(2) f_type magic numbers (linux/magic.h) of the filesystems that
// matter for a Kubernetes node.
var magicNames = map[uint32]string{
	0xEF53:     "ext4", // ext2, ext3 and ext4 share it
	0x58465342: "xfs",
	0x9123683E: "btrfs",
	0x2FC12FC1: "zfs",
	0x01021994: "tmpfs",
	0x794C7630: "overlay",
	0x01021997: "9p",
	0x65735546: "fuse", // virtiofs (Linux) reports fuse's magic too
	0x6969:     "nfs",
	// Docker Desktop's "fakeowner" host share (virtiofs underneath).
	0x6a656a63: "virtiofs",
	0x73717368: "squashfs",
	0x858458f6: "ramfs",
	0xFF534D42: "cifs",
	0xFE534D42: "cifs", // smb2
}

// MagicName names a statfs f_type: "ext4", "9p", ... or "0x1234abcd" when it
// is not one kprobe knows.
func MagicName(t int64) string {
	m := uint32(t) // f_type is __fsword_t; 32-bit kernels sign-extend it
	if n, ok := magicNames[m]; ok {
		return n
	}
	return fmt.Sprintf("0x%x", m)
}

// Family reduces a mountinfo filesystem type to the names MagicName uses,
// so that the two can corroborate each other: ext2/3/4 -> ext4,
// fuse.sshfs/fuseblk -> fuse, nfs4 -> nfs, smb3 -> cifs.
func Family(fstype string) string {
	switch {
	case fstype == "ext2" || fstype == "ext3" || fstype == "ext4":
		return "ext4"
	case fstype == "fuse" || fstype == "fuseblk" || strings.HasPrefix(fstype, "fuse."):
		return "fuse"
	case fstype == "nfs" || fstype == "nfs4":
		return "nfs"
	case fstype == "smb3" || fstype == "smb2" || fstype == "cifs":
		return "cifs"
	case fstype == "v9fs":
		return "9p"
	}
	return fstype
}

// KubeletStats says whether cAdvisor (inside the kubelet) can map a
// directory on a filesystem of this family to a device and stat it: the
// kubelet's ContainerManager refuses to start with "failed to get rootfs
// info" otherwise, unless local storage capacity isolation is off.
//
//   - ext4 and xfs on a block device: yes.
//   - 9p, fuse, virtiofs, nfs, cifs, tmpfs, ramfs, squashfs: no. cAdvisor
//     keeps only ext*, xfs, btrfs, zfs, overlay and tmpfs partitions, and
//     kubelets on tmpfs and 9p roots (bubblewrap, gVisor) fail to size them.
//   - btrfs and zfs: no. Their st_dev is an anonymous device that cAdvisor
//     maps only through a visible /dev node or /dev/zfs (kind, k3d and
//     minikube turn the isolation off for them).
//   - overlay: unknown. It depends on the filesystem below, which a
//     container cannot see.
func KubeletStats(family string, block probes.Tri) probes.Tri {
	switch family {
	case "":
		return probes.Unknown
	case "ext4", "xfs":
		if block == probes.Yes {
			return probes.Yes
		}
		return probes.Unknown
	case "overlay":
		return probes.Unknown
	case "9p", "fuse", "virtiofs", "nfs", "cifs", "tmpfs", "ramfs", "squashfs", "btrfs", "zfs":
		return probes.No
	}
	if block == probes.No {
		return probes.No
	}
	return probes.Unknown
}

// OverlayUpper says whether the kernel's overlayfs accepts a directory on
// this family as upperdir, which containerd's overlayfs snapshotter needs
// under its root in the data dir. Overlay refuses remote filesystems (9p,
// nfs, cifs, fuse, virtiofs: they revalidate dentries) and another overlay
// as upper (EINVAL in podman, see sandbox-zoo.md). ZFS works as upper only
// from OpenZFS 2.2 (RENAME_WHITEOUT): unknown.
func OverlayUpper(family string) probes.Tri {
	switch family {
	case "":
		return probes.Unknown
	case "ext4", "xfs", "btrfs", "tmpfs":
		return probes.Yes
	case "overlay", "9p", "nfs", "cifs", "fuse", "virtiofs", "squashfs", "ramfs":
		return probes.No
	}
	return probes.Unknown
}

// DType says whether readdir on a filesystem of this family fills d_type,
// which overlayfs needs from its upper and lower layers. xfs has it only
// when formatted with ftype=1; that is answered by XfsFtype.
func DType(family string) probes.Tri {
	switch family {
	case "ext4", "tmpfs", "btrfs", "zfs", "ramfs", "squashfs", "overlay":
		return probes.Yes
	}
	return probes.Unknown
}

var ftypeRe = regexp.MustCompile(`\bftype=([01])\b`)

// XfsFtype reads the ftype of `xfs_info` output: Yes for ftype=1 (d_type
// supported), No for ftype=0, Unknown when absent.
func XfsFtype(out string) probes.Tri {
	m := ftypeRe.FindStringSubmatch(out)
	if m == nil {
		return probes.Unknown
	}
	return probes.TriOf(m[1] == "1")
}
