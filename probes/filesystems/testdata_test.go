package filesystems

// Mount tables for the tests. hostMountinfo is real: copied from this
// project's Firecracker VM (Debian 12, kernel 6.18.44-fc-v782) as root.
// The sandbox tables are shaped after the mounts recorded in
// research/sandbox-zoo.md (fstype counts, sources and options per sandbox).

const hostMountinfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k,nr_inodes=3083623,mode=755
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
28 27 0:25 / /mnt/sandboxing/model_tools_env/v1/python ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
29 26 0:26 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000
30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

// gVisor `runsc run` with a Docker-like spec: 9p root over the gofer,
// gVisor's own tmpfs mounts.
const gvisorRunMountinfo = `1 0 0:2 / / rw,relatime - 9p runsc-root rw,trans=fd,rfd=3,wfd=3,cache=fscache
2 1 0:3 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
3 1 0:4 / /dev rw,nosuid,relatime - tmpfs tmpfs rw,mode=0755
4 3 0:5 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw
5 3 0:6 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k
6 1 0:7 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
7 1 0:8 / /tmp rw,relatime - tmpfs tmpfs rw
`

// Root podman: an overlay root over the host's ext4.
const podmanMountinfo = `590 481 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/containers/storage/overlay/l/ABC,upperdir=/var/lib/containers/storage/overlay/1f/diff,workdir=/var/lib/containers/storage/overlay/1f/work
591 590 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
592 590 0:56 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
593 590 0:57 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
594 592 0:58 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=64000k
595 590 0:49 /containers/1f/userdata/hostname /etc/hostname rw,nosuid,nodev - tmpfs tmpfs rw,size=2467000k,mode=755
596 590 0:49 /containers/1f/userdata/.containerenv /run/.containerenv rw,nosuid,nodev - tmpfs tmpfs rw,size=2467000k,mode=755
`

// bubblewrap with --tmpfs roots: tmpfs / and ext4 read-only binds.
const bwrapMountinfo = `700 699 0:60 / / rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=4k
701 700 254:0 /usr /usr ro,nosuid,nodev,relatime - ext4 /dev/vda rw
702 700 254:0 /etc /etc ro,nosuid,nodev,relatime - ext4 /dev/vda rw
703 700 0:61 / /proc rw,nosuid,nodev,relatime - proc proc rw
704 700 0:62 / /dev rw,nosuid,relatime - tmpfs tmpfs rw,mode=755
705 700 0:63 / /tmp rw,nosuid,nodev,relatime - tmpfs tmpfs rw
`
