package podnode

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ChooseIsolation tries each level, strongest first, by starting the
// container init helper in probe mode on a scratch root under dir; it
// returns the level and a one-line reason. A level asked for is the
// strongest one tried: the plan predicts it from the scan's facts, and
// where it fails at start (gVisor makes the user namespace but refuses
// what comes next) the agent steps down and says why.
func ChooseIsolation(want Isolation, dir string) (Isolation, string, error) {
	candidates := stepDown(want)
	if candidates == nil {
		return "", "", fmt.Errorf("podnode: isolation %q: use auto, userns, chroot or none", want)
	}
	root := filepath.Join(dir, "root")
	src := filepath.Join(dir, "volume")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", "", err
	}
	defer os.RemoveAll(dir)
	var failed []string
	for _, iso := range candidates {
		if iso == IsolationNone {
			return iso, reasonFor(iso, failed), nil
		}
		spec := procSpec{Mode: iso, Root: root, NewNS: true, Probe: true, UID: -1, GID: -1,
			Mounts: []bindMount{{Source: src, Target: "/volume"}}}
		if iso == IsolationChroot {
			spec.Mounts = nil
		}
		unmappedUserNS.Store(false)
		err := probeLevel(spec)
		if err != nil && iso == IsolationUserns && !hasCapSysAdmin() {
			// root cannot be mapped here (runc --rootless): try the
			// user namespace without a map
			failed = append(failed, fmt.Sprintf("%s with root mapped: %v", iso, err))
			unmappedUserNS.Store(true)
			err = probeLevel(spec)
			if err != nil {
				unmappedUserNS.Store(false)
				failed = append(failed, fmt.Sprintf("%s without a uid map: %v", iso, err))
				continue
			}
		}
		if err == nil {
			return iso, reasonFor(iso, failed), nil
		}
		failed = append(failed, fmt.Sprintf("%s: %v", iso, err))
	}
	return "", "", fmt.Errorf("podnode: isolation %s does not work here: %s", want, strings.Join(failed, "; "))
}

// probeLevel starts the init helper in probe mode for spec and waits.
func probeLevel(spec procSpec) error {
	var out bytes.Buffer
	p, err := startProcess(spec, nil, &out, &out, nil)
	if err != nil {
		return err
	}
	code, err := p.wait()
	if err == nil && code != 0 {
		err = fmt.Errorf("init helper exited %s: %s", exitText(code), strings.TrimSpace(out.String()))
	}
	return err
}

// stepDown lists the levels tried for want, strongest first; nil for an
// unknown level.
func stepDown(want Isolation) []Isolation {
	all := []Isolation{IsolationUserns, IsolationChroot, IsolationNone}
	if want == "" || want == IsolationAuto {
		return all
	}
	for i, iso := range all {
		if iso == want {
			return all[i:]
		}
	}
	return nil
}

// exitText names an exit code the way wait reports it (128+N: signal N).
func exitText(code int) string {
	if code > 128 && code < 128+65 {
		return fmt.Sprintf("%d (signal %s)", code, unix.SignalName(syscall.Signal(code-128)))
	}
	return fmt.Sprint(code)
}

func reasonFor(iso Isolation, failed []string) string {
	userNS := "yes"
	switch {
	case hasCapSysAdmin():
		userNS = "not needed, CAP_SYS_ADMIN"
	case unmappedUserNS.Load():
		userNS = "yes, without a uid map: root cannot be mapped here (no CAP_SETFCAP), so containers run as uid 65534 and runAsUser cannot be honoured"
	}
	why := map[Isolation]string{
		IsolationUserns: "new mount+pid+uts+ipc namespaces work (user namespace: " + userNS + ")",
		IsolationChroot: "chroot works, namespaces do not",
		IsolationNone:   "neither namespaces nor chroot work: containers run with the sandbox's root (static binaries only)",
	}[iso]
	if len(failed) > 0 {
		why += " [" + strings.Join(failed, "; ") + "]"
	}
	return why + "; gives up: " + iso.GivesUp()
}
