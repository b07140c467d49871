// Package podnode is the process-pod node agent: a virtual-kubelet node whose
// provider runs each pod's containers as ordinary processes of the sandbox,
// with the container's image root as "/" and the strongest isolation that
// works here (user+mount+pid namespaces, else chroot, else none), for the
// sandboxes where no container runtime can start a container (gVisor with a
// 9p root, Docker defaults, podman, rootless).
//
// What the rung gives up, said plainly: pods share the sandbox's network
// (every pod's IP is the node's), and nothing isolates a pod from the sandbox
// beyond the chosen isolation level. Pod and container lifecycle follow the
// kubelet: init containers in order, restarts with the kubelet's back-off
// (CrashLoopBackOff), probes, grace periods, CRI-format logs under
// DATA/logs/pods, and exec, attach and port-forward through the kubelet API
// that virtual-kubelet serves.
//
// Layout of the data dir:
//
//	DATA/pods/<uid>/containers/<name>/rootfs   a container's root
//	DATA/pods/<uid>/volumes/<name>             a pod volume's contents
//	DATA/pods/<uid>/etc-hosts, resolv.conf     written as a kubelet would
//	DATA/logs/pods/<ns>_<pod>_<uid>/<c>/N.log  CRI logs, N = restart count
//	DATA/images                                the image store
package podnode
