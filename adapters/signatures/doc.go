// Package signatures recognises known failures in the logs of a launching
// cluster and says what to do about each.
//
// Table is a declarative list of Signatures. Each has a stable code, the
// component whose log it appears in, a regular expression over the real log
// text, a diagnosis and a paste-ready fix in plain words, the source it was
// taken from, and an Action for the launcher:
//
//   - Remedy: add settings or shims to the plan and retry at the same rung;
//     when they are already in place, step down instead.
//   - StepDown: retry one rung lower on the fallback ladder (or straight to
//     Action.AtMost when the rungs in between cannot avoid the failure).
//   - Fatal: nothing kprobe can do; Action.Needs says what must change in the
//     environment.
//   - Advisory: worth telling the user, not a reason to stop the attempt.
//
// Match checks one line; Watcher tails a set of log files and reports the
// first hit of each code; Scan and ScanFiles do the same over whole logs
// after the fact (SourcesIn lists <data-dir>/logs). Signature.Decide turns
// a hit into the launcher's next step. Remedies name settings the renderers
// know and shims of adapters.ShimNames.
//
// Lines are matched after undoing one or two levels of quote escaping
// (klog's structured err="...\"..."", logrus's msg="...", JSON), so one
// pattern serves the kubelet's own log, k3s's combined log and containerd's.
// klog's multi-line values (key=< ... >) are joined into one logical line
// by the Watcher and by Scan.
//
// The table's sources are shared/research/prior-art.md §2.3 (numbered
// there), real-cluster.md and sandbox-zoo.md §Task 4, plus a few messages
// read from the component binaries kprobe runs (kubelet, kube-proxy and
// kube-apiserver v1.37.2, containerd 1.6.20, runc 1.1.5). docs/signatures.md
// is generated from the table: go test ./adapters/signatures -run TestDocs -update.
package signatures
