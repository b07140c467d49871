package hoststate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kprobe/kprobe/probes/kernel"
)

// sysModule is where loaded modules show; tests point it elsewhere.
var sysModule = "/sys/module"

// moduleLoaded says whether a module is loaded: /sys/module/NAME/initstate
// exists for every loaded module (a built-in one has no initstate).
func moduleLoaded(name string) bool {
	_, err := os.Stat(filepath.Join(sysModule, name, "initstate"))
	return err == nil
}

// LoadModule loads a kernel module of the running kernel and records it
// in the snapshot, so that stop unloads it (unloadModules). It does
// nothing when the module is loaded already. Its dependencies (for
// br_netfilter: bridge, stp, llc) are loaded first, as modprobe would,
// and stay loaded after stop: the CNI bridge plugin's bridge makes the
// kernel load bridge anyway, and unloading bridge would delete every
// bridge on the machine. save is called before the load, so a crash
// never loses what to undo; err is only a save's error, and a load that
// fails is a note with loaded false.
func (s *Snapshot) LoadModule(name string, save func() error) (loaded bool, note string, err error) {
	if moduleLoaded(name) {
		return false, "", nil
	}
	release, err := kernelRelease()
	if err != nil {
		return false, "uname: " + err.Error(), nil
	}
	// The running kernel's module files: FindModule's paths are relative
	// to /lib/modules/RELEASE.
	dir := filepath.Join("/lib/modules", release)
	m := kernel.FindModule(os.DirFS("/"), release, name)
	if m.State != kernel.ModuleFile {
		return false, fmt.Sprintf("%s is not a module file of kernel %s (%s)", name, release, m.State), nil
	}
	s.Modules = append(s.Modules, name)
	if err := save(); err != nil {
		return false, "", err
	}
	files := append([]string(nil), m.Deps...)
	slices.Reverse(files)
	for _, f := range append(files, m.Path) {
		if kernel.ModuleName(f) != name && moduleLoaded(kernel.ModuleName(f)) {
			continue
		}
		if lerr := loadModuleFile(filepath.Join(dir, f)); lerr != nil {
			s.Modules = s.Modules[:len(s.Modules)-1]
			return false, fmt.Sprintf("load %s: %v", f, lerr), save()
		}
	}
	return true, fmt.Sprintf("loaded the kernel module %s (stop unloads it)", name), save()
}

// unloadModules unloads the modules launch loaded, last first, each only
// while nothing uses it (refcnt 0, no holders): another user's module
// stays.
func (s *Snapshot) unloadModules(note func(string, ...any), fail func(error)) {
	for i := len(s.Modules) - 1; i >= 0; i-- {
		name := s.Modules[i]
		if why := moduleInUse(name); why != "" {
			if why != "not loaded" {
				note("left the kernel module %s loaded: %s", name, why)
			}
			continue
		}
		if err := unloadModule(name); err != nil {
			fail(fmt.Errorf("unload the kernel module %s: %w", name, err))
			continue
		}
		note("unloaded the kernel module %s", name)
	}
}

// moduleInUse says why a module must stay, "" when it can be unloaded.
func moduleInUse(name string) string {
	if !moduleLoaded(name) {
		return "not loaded"
	}
	b, err := os.ReadFile(filepath.Join(sysModule, name, "refcnt"))
	if err != nil {
		return "its refcnt cannot be read: " + err.Error()
	}
	if n := strings.TrimSpace(string(b)); n != "0" {
		return "in use (refcnt " + n + ")"
	}
	if holders := listDir(filepath.Join(sysModule, name, "holders")); len(holders) > 0 {
		return "used by " + strings.Join(holders, ", ")
	}
	return ""
}
