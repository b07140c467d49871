package launch

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFindSupervisor prefers kprobe-supervisor beside kprobe-cluster, then
// the light kprobe; with neither, or when self is the one found, self
// supervises ("").
func TestFindSupervisor(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "kprobe-cluster")
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("kprobe-cluster", 0o755)
	if got := FindSupervisor(self); got != "" {
		t.Errorf("alone: %q, want self (\"\")", got)
	}
	write("kprobe-supervisor", 0o644) // not executable
	light := write("kprobe", 0o755)
	if got := FindSupervisor(self); got != light {
		t.Errorf("with the light kprobe: %q, want %q", got, light)
	}
	sup := write("kprobe-supervisor", 0o755)
	if got := FindSupervisor(self); got != sup {
		t.Errorf("with kprobe-supervisor: %q, want %q", got, sup)
	}
	if got := FindSupervisor(sup); got != "" {
		t.Errorf("self is kprobe-supervisor: %q, want \"\"", got)
	}
	if got := FindSupervisor(""); got != "" {
		t.Errorf("no self: %q", got)
	}
}
