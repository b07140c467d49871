// Package profiles judges and persists what a scan found.
//
// A Profile is the TOML record of a sandbox: its identity, the facts, the
// derived capabilities ("overlay mountable", "cgroups writable"), the
// findings and the ladder verdict. Loading is strict: an unknown key or a
// value of the wrong type is an error naming its key path. Saving is atomic
// and keeps the previous profile.
package profiles
