package kernel

import (
	"bufio"
	"bytes"
	"io/fs"
	"path"
	"strings"
)

// Module states of the kernel.br_netfilter fact.
const (
	ModuleBuiltin = "builtin" // listed in modules.builtin: always there
	ModuleFile    = "module"  // a module file of the running kernel, in modules.dep
	ModuleAbsent  = "absent"  // neither list names it
	ModuleUnknown = "unknown" // the lists cannot be read (most containers)
)

// Module is where a kernel module comes from for the running kernel, as
// depmod's lists under /lib/modules/RELEASE say: built in, or a file
// with the files it depends on (in modules.dep's order: the last is
// loaded first, as modprobe does).
type Module struct {
	State string
	// Path and Deps are relative to /lib/modules/RELEASE.
	Path string
	Deps []string
}

// FindModule looks name up in depmod's lists of release below root. It
// is how the scan tells whether launch can load br_netfilter, and how
// launch finds the files to load, without modprobe (k3s runs modprobe;
// a sandbox may have no kmod).
func FindModule(root fs.FS, release, name string) Module {
	dir := path.Join("lib/modules", release)
	builtin, berr := fs.ReadFile(root, path.Join(dir, "modules.builtin"))
	if berr == nil && findLine(builtin, name) != "" {
		return Module{State: ModuleBuiltin}
	}
	dep, derr := fs.ReadFile(root, path.Join(dir, "modules.dep"))
	if derr != nil {
		return Module{State: ModuleUnknown}
	}
	line := findLine(dep, name)
	if line == "" {
		if berr != nil {
			return Module{State: ModuleUnknown}
		}
		return Module{State: ModuleAbsent}
	}
	file, deps, _ := strings.Cut(line, ":")
	return Module{State: ModuleFile, Path: file, Deps: strings.Fields(deps)}
}

// findLine returns the line of a depmod list whose module file is
// name.ko (compressed or not), or "".
func findLine(list []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(list))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		file, _, _ := strings.Cut(line, ":")
		if ModuleName(file) == name {
			return line
		}
	}
	return ""
}

// ModuleName is the module name of a module file: kernel/net/bridge/
// br_netfilter.ko.xz is br_netfilter (depmod treats - and _ alike).
func ModuleName(file string) string {
	base := path.Base(strings.TrimSpace(file))
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	if !strings.HasSuffix(base, ".ko") {
		return ""
	}
	return strings.ReplaceAll(strings.TrimSuffix(base, ".ko"), "-", "_")
}
