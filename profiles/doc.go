// Package profiles judges and persists what a scan found.
//
// A Profile is the TOML record of a sandbox: its identity, the facts, the
// derived capabilities ("overlay mountable", "cgroups writable"), the
// findings and the ladder verdict. Loading is strict: an unknown key or a
// value of the wrong type is an error naming its key path. Saving is atomic
// and keeps the previous profile.
//
// Built-in profiles of known sandboxes (builtin/*.toml, embedded) record
// what is known about gVisor, Docker, podman, rootless user namespaces,
// bubblewrap, LXC, WSL2, Codespaces, Gitpod and plain VMs. Rank and Match
// compare a scan's facts with them on the identifying facts of MatchKeys
// and say why; Overlay puts a fresh scan on top of the closest one.
package profiles
