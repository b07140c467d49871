#!/bin/sh
# gvisor-worker-prep.sh: give gVisor (runsc do: CAP_SYS_ADMIN, no /sys/fs/cgroup,
# no CPU topology in /sys) what the kubelet reads, then run "$@". Used by the
# zoo launch case gvisor-do-worker (test/zoo/launch_test.go); every mount is in
# the sandbox and goes with it. research/launches/gvisor-do-worker.md says what
# each step is for.
set -eu
# 1. gVisor's own cgroup v1 controllers (it has no devices controller): the
#    kubelet insists on cpu, cpuacct, cpuset and memory being mounted.
mount -t tmpfs cgroup-root /sys/fs/cgroup
for c in cpu cpuacct cpuset memory pids job; do
	mkdir -p /sys/fs/cgroup/$c
	mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c
done
# 2. A CPU topology: without /sys/devices/system/cpu the kubelet stops with
#    "could not detect number of cpus".
mount -t tmpfs sys-cpu /sys/devices/system/cpu
n=$(nproc)
for f in online possible present; do echo "0-$((n - 1))" >/sys/devices/system/cpu/$f; done
i=0
while [ "$i" -lt "$n" ]; do
	d=/sys/devices/system/cpu/cpu$i
	mkdir -p $d/topology
	echo "$i" >$d/topology/core_id
	echo 0 >$d/topology/physical_package_id
	echo 1 >$d/online
	i=$((i + 1))
done
# 3. A tmpfs for the kubelet's fixed /var/lib/kubelet: its device-plugin
#    socket cannot be bound on gVisor's host-backed root after a restart
#    ("listen unix .../kubelet.sock: bind: operation not permitted").
mkdir -p /var/lib/kubelet
mount -t tmpfs kubelet /var/lib/kubelet
exec "$@"
