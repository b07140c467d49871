// Package soak keeps a small workload running on a launched cluster for a
// fixed time and samples, every interval, whether the cluster stays
// healthy: component restarts (from the supervisor's state), API latency,
// the resident memory of every component, failed workload probes, and
// leaked processes (containerd shims without a pod, processes of deleted
// pods). At the end it judges the series with one documented rule
// (Judge): zero restarts, zero failed probes, memory flat, nothing leaked.
//
// The workload lives in the namespace kprobe-soak, deleted at the end even
// when the soak is interrupted: a Deployment scaled 1→3→1 in a loop, a pod
// logging a line per second whose log is followed through the API, a
// Service answering a bounded number of requests per interval from a
// client pod, and, when the cluster has a default StorageClass, a pod
// appending to a PersistentVolumeClaim and recreated periodically to prove
// the data stays.
//
// It talks to the cluster with client-go and reads /proc for memory and
// processes; the result is one JSON-serialisable value (Result).
package soak
