#!/bin/sh
# vm-cgns-container.sh CMD [ARGS...]: runs CMD as root in a privileged
# container with a private cgroup namespace, as Docker 20.10+ makes one on
# a cgroup v2 host (cgroupns=private), inside the zoo's VM (launch_test.go's
# case vm-v2-cgns). The host side enables every controller for the root's
# children (systemd does) and makes the container's cgroup, /ctr; the
# container's first process (PID 1 of new mount and pid namespaces) joins
# it, takes a cgroup namespace there and mounts cgroup2 afresh: it sees /ctr
# as the root of its tree, with its own processes, and only those, in it.
set -eu
sed -e 's/^/+/' -e 's/ / +/g' /sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/ctr
exec unshare --mount --pid --fork --mount-proc sh -c '
echo $$ >/sys/fs/cgroup/ctr/cgroup.procs
exec unshare --cgroup sh -c "umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec \"\$@\"" ctr "$@"' ctr "$@"
