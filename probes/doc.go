// Package probes observes the sandbox kprobe runs in.
//
// A Probe measures one property of the machine and returns typed, tri-state
// facts with evidence and findings. Probes read the host only through Env:
// Root is an fs.FS rooted at "/" (or at a captured fixture tree), Sys wraps
// the few syscalls that are not file reads. Active probes (mount, unshare,
// mkdir in cgroupfs, starting a container) run in a re-exec'd child inside a
// private mount namespace and a temp dir, and leave nothing behind.
//
// Probes know nothing about k3s or Kubernetes settings: judging the facts is
// the job of package profiles, planning is the job of package adapters.
package probes
