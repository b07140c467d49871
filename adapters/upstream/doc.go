// Package upstream renders a plan for the "kubernetes" engine: upstream
// kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
// kube-proxy with etcd, containerd, runc and the bridge CNI plugin, every
// file and flag under one data dir. Rendering is pure: Render returns the
// files to write and the processes to supervise, in start order.
//
// The flags and settings follow research/real-cluster.md, where this
// exact assembly was run by hand on the machines kprobe is developed on.
package upstream
