// Package adapters turns a profile into a plan and a plan into a running
// cluster.
//
// Planning is pure: Build applies the rule table (rules.go) to a
// profile's facts and returns a Plan whose every setting, shim and
// disabled component carries the reason code of the fact that caused it.
// Settings are engine-neutral (a kubelet flag, a containerd CRI key, a
// cluster-level choice), so one rule serves both renderers: k3s's
// config.yaml and args, and the upstream components' flags and files.
//
// Execution lives in sub-packages: the launcher (supervise, readiness,
// log signatures) and the engines.
package adapters
