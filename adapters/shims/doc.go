// Package shims holds the reversible changes kprobe makes before an engine
// starts, where a blocker has no flag: a /dev/kmsg stand-in, an rshared
// root, cgroup v2 root evacuation, a tmpfs data dir, fake /proc/sys entries
// and an OCI runtime wrapper. Each has the name a plan's Shim refers to
// (adapters.Shim.Name); Get finds it.
//
// # API
//
//	sh, _ := shims.Get("kmsg")
//	a, err := sh.Apply(ctx, env) // on error, whatever it did is undone already
//	...
//	err = a.Undo(ctx)             // removes exactly what Apply created
//
// Apply returns an *Applied: the journal of what the shim did (mounts with
// their mount IDs, files and directories with their inode, cgroup moves,
// propagation changes), in order. Undo replays it backwards and checks each
// item is still the one it created before removing it, so it never
// removes what someone else made in the meantime. Applied is JSON: the
// launcher saves it in the data dir (Save, Load) and `kprobe stop`, a
// different process, undoes it. A step that cannot be undone stays in the
// journal and Undo reports it; calling Undo again retries only those.
//
// Apply is idempotent: when the change is already in place (the stand-in
// exists, / is already rshared, the data dir is already a tmpfs...) it
// records nothing and its Undo does nothing, so applying twice and undoing
// both leaves what the first Apply found.
//
// # Scopes
//
// Mounts belong to a mount namespace. Shims with ScopeNamespace (rshared,
// fake-sysctls) must only run in a private mount namespace that the
// launcher created for the engine: in the launcher's own namespace they
// would change what every other process sees. kmsg prefers one and works
// without (ScopePreferNamespace). tmpfs-datadir and runtime-wrapper run in
// the launcher's namespace (ScopeHost) so that `kprobe stop`, kubectl and
// the user see the same data dir; cgroup-evacuate changes the cgroup tree,
// which no mount namespace scopes.
//
// To get a private namespace the launcher starts the process that runs
// the engine (the supervisor) with CLONE_NEWNS (NamespaceAttr), and that
// process calls PrivateNS before anything else, then applies the namespace
// shims with Env.PrivateNS set. Every engine process it starts inherits the
// namespace; when the last of them exits the namespace and its mounts are
// gone. Undo of a namespace shim from another namespace (`kprobe stop`
// after the supervisor died) therefore skips mount steps whose namespace
// no longer exists, and fails with ErrNamespaceInUse while a process still
// holds it.
//
// # Runtime wrapper
//
// The runtime-wrapper shim installs an executable "runc" in
// Env.StateDir/bin that re-runs kprobe in wrapper mode (WrapperMain) with
// the real runtime's path; containerd calls it instead of runc (put the
// directory first in containerd's PATH, or set the runc runtime's
// BinaryName to Applied.Outputs["runtime"]). WrapperMain rewrites the
// bundle's config.json with RewriteSpec, a pure function, and execs the
// real runtime. kprobe's main must call Dispatch first, which runs
// WrapperMain for `kprobe runtime-wrapper ...` (hack/runc-wrapper is the
// same as a binary of its own).
//
// # /proc/sys redirector
//
// Where fake-sysctls cannot mount (no CAP_SYS_ADMIN: gVisor run with a
// docker-like spec, Docker, bwrap), the prototype hack/sysctltrace runs a
// process under ptrace and rewrites the path of its opens of chosen
// /proc/sys files to fake files (PlanSysctlFakes says which). It is not
// part of the kprobe binary until a shim uses it.
//
// research/tricks.md records where each shim works, what it costs and the
// syscall-level tricks studied for blockers no shim covers.
package shims
