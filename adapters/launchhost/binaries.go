package launchhost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kprobe/kprobe/adapters/install"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// SearchDirs are where engine binaries are looked for, after the user's
// --bin-dir: kprobe's own bin dir and its engine/ subdir (`make engine`
// puts the components there), the dir `kprobe install kubernetes`
// installs into by default, then PATH.
func SearchDirs(binDir string) []string {
	var dirs []string
	if binDir != "" {
		dirs = append(dirs, binDir)
	}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		dirs = append(dirs, filepath.Join(d, "engine"), d)
	}
	if d, err := install.EngineDir(); err == nil {
		dirs = append(dirs, d)
	}
	return dirs
}

// Find is the first executable name in dirs, else on PATH.
func Find(name string, dirs []string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

// cniDirs are where distributions put the CNI plugins (Debian: /usr/lib/cni).
var cniDirs = []string{"/opt/cni/bin", "/usr/lib/cni", "/usr/libexec/cni"}

// MissingError lists the programs an engine needs and could not find.
type MissingError struct {
	Engine  string
	Missing []string
	Hint    string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("the %s engine needs %s, not found in --bin-dir, kprobe's bin/engine dir or PATH; %s",
		e.Engine, strings.Join(e.Missing, ", "), e.Hint)
}

// UpstreamHint says how to get the upstream components.
const UpstreamHint = "install them with `kprobe install kubernetes` (no root needed), or, from a checkout, build them with `make engine` and install etcd, containerd, runc and the CNI plugins with `apt-get install etcd-server containerd runc containernetworking-plugins`"

// ControlPlaneComponents asks kube-control-plane which components it runs
// (`--components`, one name a line); a build from before the kubelet and
// kube-proxy were added answers with its usage and an error, and gets nil.
// Only a launch asks (about 80 ms): FindUpstream, which plan calls too,
// does not.
func ControlPlaneComponents(controlPlane string) []string {
	if controlPlane == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, controlPlane, "--components").Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}

// ControlPlaneRunsNode says whether kube-control-plane, which runs
// components, runs the kubelet and kube-proxy too.
func ControlPlaneRunsNode(components []string) bool {
	return slices.Contains(components, "kubelet") && slices.Contains(components, "kube-proxy")
}

// FindUpstream resolves every program of the kubernetes engine.
func FindUpstream(binDir string) (upstream.Binaries, string, error) {
	dirs := SearchDirs(binDir)
	var b upstream.Binaries
	var missing []string
	for _, x := range []struct {
		name string
		dst  *string
	}{
		{"kube-apiserver", &b.APIServer}, {"kube-controller-manager", &b.ControllerManager},
		{"kube-scheduler", &b.Scheduler}, {"kubelet", &b.Kubelet}, {"kube-proxy", &b.KubeProxy},
		{"etcd", &b.Etcd}, {"containerd", &b.Containerd}, {"runc", &b.Runc},
	} {
		p, err := Find(x.name, dirs)
		if err != nil {
			missing = append(missing, x.name)
			continue
		}
		*x.dst = p
	}
	// Optional: the three control-plane components in one process
	// (upstream.ControlPlaneProcessName), taken only from the dir of the
	// kube-apiserver found, so that it is the same build as the three;
	// `make engine` builds it, release downloads have none.
	if b.APIServer != "" {
		if p := filepath.Join(filepath.Dir(b.APIServer), upstream.ControlPlaneProcessName); executable(p) == nil {
			b.ControlPlane = p
		}
	}
	// Optional: without it the plan enforces no NetworkPolicy (netpolPreflight).
	b.NetworkPolicies, _ = Find(upstream.NetworkPolicyProcessName, dirs)
	ctr, err := Find("ctr", dirs)
	if err != nil {
		missing = append(missing, "ctr")
	}
	cni := []string{}
	for _, d := range dirs {
		cni = append(cni, filepath.Join(d, "cni")) // `kprobe install kubernetes`
	}
	for _, d := range append(cni, cniDirs...) {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			b.CNIDir = d
			break
		}
	}
	if b.CNIDir == "" {
		missing = append(missing, "the CNI plugins (bridge, host-local, portmap)")
	}
	if len(missing) > 0 {
		return b, ctr, &MissingError{Engine: "kubernetes", Missing: missing, Hint: UpstreamHint}
	}
	return b, ctr, nil
}
