package launch

import "errors"

// ErrNeedsRoot says, in one line, what a launch needs root for. Every
// engine and rung needs it today, TP included: the supervisor starts in
// a mount namespace of its own (the shims' namespace) and the launch
// journals host changes (mounts, cgroups, iptables, sysctls). A non-root
// launch failed half-way with "fork/exec .../kprobe: operation not
// permitted"; it now stops before starting anything.
var ErrNeedsRoot = errors.New("kprobe launch needs root: it starts the cluster's supervisor in a mount namespace of its own and changes the host (mounts, cgroups, iptables, sysctls), all undone by kprobe stop; run it as root (sudo kprobe launch ...)")

// NeedsRoot returns ErrNeedsRoot for a user other than root.
func NeedsRoot(euid int) error {
	if euid != 0 {
		return ErrNeedsRoot
	}
	return nil
}
