//go:build linux

package shims

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// benchApplyUndo measures one Apply plus its Undo; the setup runs once.
func benchApplyUndo(b *testing.B, name string, env *Env) {
	b.Helper()
	s := Must(name)
	ctx := context.Background()
	// One round first, so that a shim that does nothing here says so.
	a, err := s.Apply(ctx, env)
	if err != nil {
		b.Fatal(err)
	}
	if a.Empty() {
		b.Logf("%s is a no-op here: %v", name, a.Notes)
	}
	if err := a.Undo(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a, err := s.Apply(ctx, env)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Undo(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplyUndo(b *testing.B) {
	b.Run("kmsg", func(b *testing.B) {
		needRoot(b)
		needPrivateNS(b)
		benchApplyUndo(b, "kmsg", &Env{Kmsg: filepath.Join(b.TempDir(), "kmsg"), PrivateNS: true})
	})
	b.Run("kmsg-symlink", func(b *testing.B) {
		mountFn = func(string, string, string, uintptr, string) error { return os.ErrPermission }
		defer func() { mountFn = unix.Mount }()
		benchApplyUndo(b, "kmsg", &Env{Kmsg: filepath.Join(b.TempDir(), "kmsg")})
	})
	b.Run("rshared", func(b *testing.B) {
		needRoot(b)
		needPrivateNS(b)
		benchApplyUndo(b, "rshared", &Env{PrivateNS: true})
	})
	b.Run("tmpfs-datadir", func(b *testing.B) {
		needRoot(b)
		needPrivateNS(b)
		dir := filepath.Join(b.TempDir(), "data")
		for i := 0; i < 20; i++ {
			p := filepath.Join(dir, "d"+strconv.Itoa(i%4), "f"+strconv.Itoa(i))
			must(b, os.MkdirAll(filepath.Dir(p), 0o755))
			must(b, os.WriteFile(p, make([]byte, 4096), 0o644))
		}
		benchApplyUndo(b, "tmpfs-datadir", &Env{DataDir: dir})
	})
	b.Run("fake-sysctls-defaults", func(b *testing.B) {
		needPrivateNS(b)
		benchApplyUndo(b, "fake-sysctls", &Env{PrivateNS: true, StateDir: b.TempDir()})
	})
	b.Run("fake-sysctls-bind", func(b *testing.B) {
		needRoot(b)
		needPrivateNS(b)
		if _, err := os.Stat("/proc/sys/kernel/ngroups_max"); err != nil {
			b.Skip("no kernel/ngroups_max")
		}
		benchApplyUndo(b, "fake-sysctls", &Env{PrivateNS: true, StateDir: b.TempDir(),
			Sysctls: map[string]string{"kernel.ngroups_max": "1"}})
	})
	b.Run("fake-sysctls-tmpfs", func(b *testing.B) {
		needRoot(b)
		needPrivateNS(b)
		benchApplyUndo(b, "fake-sysctls", &Env{PrivateNS: true, StateDir: b.TempDir(),
			Sysctls: map[string]string{"kernel.kprobe_bench": "1", "kernel.keys.kprobe_bench": "2"}})
	})
	b.Run("cgroup-evacuate", func(b *testing.B) {
		needRoot(b)
		cg, _ := testCgroup(b, 3)
		benchApplyUndo(b, "cgroup-evacuate", &Env{CgroupRoot: cg})
	})
	b.Run("runtime-wrapper", func(b *testing.B) {
		dir := b.TempDir()
		benchApplyUndo(b, "runtime-wrapper", &Env{StateDir: filepath.Join(dir, "state"), Runtime: "/bin/true",
			WrapperCommand: []string{os.Args[0], WrapperSubcommand}})
	})
}

// BenchmarkWrapperCreate is what the wrapper adds to each container start:
// `create` through the installed script (sh, the wrapper re-exec, the
// spec rewrite, the exec) against the fake runtime called directly.
func BenchmarkWrapperCreate(b *testing.B) {
	dir := b.TempDir()
	rt := filepath.Join(dir, "rt")
	must(b, os.WriteFile(rt, []byte("#!/bin/sh\nexit 0\n"), 0o755))
	bundle := filepath.Join(dir, "bundle")
	must(b, os.MkdirAll(bundle, 0o755))
	a, err := Must("runtime-wrapper").Apply(context.Background(), &Env{StateDir: filepath.Join(dir, "state"), Runtime: rt,
		WrapperCommand: []string{os.Args[0], WrapperSubcommand}, Wrapper: &WrapperOptions{CgroupNS: Drop, OOMScoreAdj: Drop, Sysctls: Auto, IgnoreCgroups: true}})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Undo(context.Background())
	for _, tc := range []struct{ name, bin string }{{"direct", rt}, {"wrapped", a.Outputs["runtime"]}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				must(b, os.WriteFile(filepath.Join(bundle, "config.json"), []byte(bundleSpec), 0o644))
				if out, err := exec.Command(tc.bin, "--root", dir, "create", "--bundle", bundle, "c").CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			}
		})
	}
}
