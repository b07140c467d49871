package hoststate

import (
	"os"
	"path/filepath"
	"testing"
)

// moduleInUse decides whether stop unloads a module launch loaded: a
// /sys/module tree as the VM's kernel shows it, refcnt and holders
// varied.
func TestModuleInUse(t *testing.T) {
	dir := t.TempDir()
	mod := func(name, refcnt string, holders ...string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(p, "holders"), 0o755); err != nil {
			t.Fatal(err)
		}
		if refcnt == "" {
			return // built in: a directory, no initstate
		}
		for f, v := range map[string]string{"initstate": "live\n", "refcnt": refcnt + "\n"} {
			if err := os.WriteFile(filepath.Join(p, f), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range holders {
			if err := os.Mkdir(filepath.Join(p, "holders", h), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	mod("br_netfilter", "0")
	mod("bridge", "1", "br_netfilter")
	mod("xt_physdev", "0", "some_module")
	mod("nf_conntrack", "5")
	mod("builtin_one", "")
	old := sysModule
	sysModule = dir
	t.Cleanup(func() { sysModule = old })
	for name, want := range map[string]string{
		"br_netfilter": "",
		"bridge":       "in use (refcnt 1)",
		"xt_physdev":   "used by some_module",
		"nf_conntrack": "in use (refcnt 5)",
		"builtin_one":  "not loaded",
		"absent":       "not loaded",
	} {
		if got := moduleInUse(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// Loaded already: nothing to record, nothing for stop to unload.
	s := &Snapshot{}
	saved := 0
	loaded, note, err := s.LoadModule("br_netfilter", func() error { saved++; return nil })
	if loaded || err != nil || note != "" || len(s.Modules) != 0 || saved != 0 {
		t.Errorf("loaded already: loaded %v, note %q, err %v, journal %v, saves %d", loaded, note, err, s.Modules, saved)
	}
}
