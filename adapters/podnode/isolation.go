package podnode

import "fmt"

// Isolation is how a container's processes are separated from the sandbox.
type Isolation string

// Isolation levels, strongest first.
const (
	// IsolationAuto picks the strongest level that works here.
	IsolationAuto Isolation = "auto"
	// IsolationUserns runs each container in new mount, pid, uts and ipc
	// namespaces (inside a new user namespace when the agent lacks
	// CAP_SYS_ADMIN) with its image root as "/" and volumes bind-mounted.
	IsolationUserns Isolation = "userns"
	// IsolationChroot changes the root to the image root; no mounts, so
	// an emptyDir or claim is moved into the root while a container runs,
	// the other volumes are copies kept up to date, and the pod sees the
	// sandbox's processes.
	IsolationChroot Isolation = "chroot"
	// IsolationNone runs the image's binaries with the sandbox's "/": only
	// static binaries that need no file of their image work.
	IsolationNone Isolation = "none"
)

// ParseIsolation checks a --isolation value.
func ParseIsolation(s string) (Isolation, error) {
	switch i := Isolation(s); i {
	case "", IsolationAuto:
		return IsolationAuto, nil
	case IsolationUserns, IsolationChroot, IsolationNone:
		return i, nil
	}
	return "", fmt.Errorf("isolation %q: use auto, userns, chroot or none", s)
}

// GivesUp says in one line what a level does not give.
func (i Isolation) GivesUp() string {
	switch i {
	case IsolationUserns:
		return "host network; pods are not isolated from each other's network or from the sandbox's network"
	case IsolationChroot:
		return "host network and process table; configMaps and secrets are copies, an emptyDir or claim is moved into one running container at a time (the others get a copy), no /proc inside the root"
	default:
		return "no root change: containers see the sandbox's files (only static binaries work); no volumes at their mount paths"
	}
}
