package launchhost

import (
	"debug/buildinfo"
)

// Component is one program of an engine, where it was found and the
// version its Go build info records ("" when it records none, as in
// distribution packages built outside a module).
type Component struct {
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	Version string `json:"version,omitempty"`
}

// EngineComponents lists the programs of the kubernetes engine and the
// tools beside it (kubectl, helm, kwok) that are installed, with their
// versions read from the binaries' build info: nothing is executed.
func EngineComponents(binDir string) []Component {
	dirs := SearchDirs(binDir)
	var cs []Component
	for _, name := range []string{
		"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
		"etcd", "containerd", "runc", "kubectl", "helm", "kwok", "k3s",
	} {
		p, err := Find(name, dirs)
		if err != nil {
			continue
		}
		c := Component{Name: name, Path: p}
		if bi, err := buildinfo.ReadFile(p); err == nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			c.Version = bi.Main.Version
		}
		cs = append(cs, c)
	}
	return cs
}
