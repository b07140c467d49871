package launch

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/kprobe/kprobe/adapters/launchhost"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// Runtime is where a launched cluster keeps its images: containerd's
// socket (T0-T2) and the ctr that talks to it, or the node agent's image
// store (process pods).
type Runtime struct {
	Socket, Ctr string
	// ImageStore is the node agent's store dir when the cluster runs
	// process pods and no containerd.
	ImageStore string
}

// FindRuntime finds the image runtime of the cluster launched from
// dataDir: a containerd that answers on its socket first, else the node
// agent's image store.
func FindRuntime(dataDir, binDir string) (Runtime, error) {
	sock := upstream.ContainerdSocket(dataDir)
	if c, err := net.DialTimeout("unix", sock, 2*time.Second); err == nil {
		c.Close()
		ctr, err := launchhost.Find("ctr", launchhost.SearchDirs(binDir))
		if err != nil {
			return Runtime{}, fmt.Errorf("containerd answers on %s but no ctr was found (pass --bin-dir): %w", sock, err)
		}
		return Runtime{Socket: sock, Ctr: ctr}, nil
	}
	store := filepath.Join(dataDir, "node-agent", "images")
	if fi, err := os.Stat(store); err == nil && fi.IsDir() {
		return Runtime{ImageStore: store}, nil
	}
	return Runtime{}, fmt.Errorf("%w: no containerd answers on %s and %s has no node agent image store (is the cluster launched from this --data-dir?)", ErrNotRunning, sock, dataDir)
}

// FindTool finds a program of the engine (kubectl, helm) where launch
// looks for the engine's binaries: --bin-dir, kprobe's bin/engine, the
// dir `kprobe install kubernetes` fills, then PATH.
func FindTool(name, binDir string) (string, error) {
	p, err := launchhost.Find(name, launchhost.SearchDirs(binDir))
	if err != nil {
		return "", fmt.Errorf("%s is not installed: install it with `kprobe install kubernetes` (or pass --bin-dir)", name)
	}
	return p, nil
}

// EngineFiles maps every file of the kubernetes engine, by its path in an
// install dir (`kprobe install kubernetes`'s layout: binaries, cni/,
// images/), to where launch finds it now. A bundle is made from it.
func EngineFiles(binDir string) (map[string]string, error) {
	b, ctr, err := launchhost.FindUpstream(binDir)
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"kube-apiserver": b.APIServer, "kube-controller-manager": b.ControllerManager, "kube-scheduler": b.Scheduler,
		"kubelet": b.Kubelet, "kube-proxy": b.KubeProxy, "etcd": b.Etcd, "containerd": b.Containerd, "runc": b.Runc, "ctr": ctr,
	}
	if b.ControlPlane != "" {
		files[upstream.ControlPlaneProcessName] = b.ControlPlane
	}
	shim, err := launchhost.Find("containerd-shim-runc-v2", append([]string{filepath.Dir(b.Containerd)}, launchhost.SearchDirs(binDir)...))
	if err != nil {
		return nil, fmt.Errorf("containerd-shim-runc-v2 (beside containerd or on PATH): %w", err)
	}
	files["containerd-shim-runc-v2"] = shim
	for _, tool := range []string{"kubectl", "helm"} {
		p, err := FindTool(tool, binDir)
		if err != nil {
			return nil, err
		}
		files[tool] = p
	}
	plugins, err := os.ReadDir(b.CNIDir)
	if err != nil {
		return nil, err
	}
	for _, p := range plugins {
		if p.Type().IsRegular() {
			files["cni/"+p.Name()] = filepath.Join(b.CNIDir, p.Name())
		}
	}
	pause, busybox, err := FindImages(installedImages("", binDir))
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(pause)
	files["images/pause.tar"], files["images/busybox.tar"] = pause, busybox
	for _, n := range []string{"coredns.tar", "local-path-provisioner.tar"} {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("the add-on image archive %s is missing: %w", n, err)
		}
		files["images/"+n] = p
	}
	return files, nil
}
