// Package sysctltrace is a prototype kept out of the shipped binary: it
// runs a program under ptrace and answers its opens of chosen /proc/sys
// files from fakes, for sandboxes where the fake-sysctls shim
// (adapters/shims) cannot mount. No shim or launch uses it yet
// (research/tricks.md has its measurements); nothing of kprobe imports it.
package sysctltrace
