package capture_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/bounded"
	"github.com/kprobe/kprobe/probes/capture"
	"github.com/kprobe/kprobe/probes/suite"
)

// copyFixture copies the host's fixture capture into a temp dir, where a
// test may plant what a hostile capture holds.
func copyFixture(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "testdata", "sandboxes", "host")
	dst := filepath.Join(t.TempDir(), "cap")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func replace(t *testing.T, path string, plant func(string) error) {
	t.Helper()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if err := plant(path); err != nil {
		t.Fatal(err)
	}
}

func sparse(size int64) func(string) error {
	return func(p string) error {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Truncate(size)
	}
}

// TestReplayStaysInsideTheCapture: a symlink in a capture's tree that
// leads out of it is not followed (an outside file used to become the
// kernel.version fact).
func TestReplayStaysInsideTheCapture(t *testing.T) {
	dir := copyFixture(t)
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("Linux version OUTSIDE-FILE (x) #1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	replace(t, filepath.Join(dir, "root/proc/version"), func(p string) error { return os.Symlink(outside, p) })
	replace(t, filepath.Join(dir, "root/proc/cpuinfo"), func(p string) error { return os.Symlink("../../../../../../../../"+outside, p) })
	all := suite.All()
	env, err := capture.ReplayEnv(dir, all)
	if err != nil {
		t.Fatal(err)
	}
	sc := probes.Run(context.Background(), env, all, probes.Options{})
	for k, v := range sc.Facts {
		if strings.Contains(fmt.Sprint(v), "OUTSIDE-FILE") {
			t.Errorf("fact %s came from a file outside the capture: %v", k, v)
		}
	}
	if _, err := fs.ReadFile(env.Root, "proc/version"); err == nil {
		t.Error("proc/version, a symlink out of the capture, was read")
	}
}

// TestReplayIsBounded: a capture holding /dev/zero (through a symlink), a
// FIFO, an 8 GiB sparse file or a 300 MB mountinfo is replayed with those
// files unreadable, not read into memory.
func TestReplayIsBounded(t *testing.T) {
	dir := copyFixture(t)
	replace(t, filepath.Join(dir, "root/proc/meminfo"), func(p string) error { return os.Symlink("/dev/zero", p) })
	replace(t, filepath.Join(dir, "root/proc/cpuinfo"), func(p string) error { return syscall.Mkfifo(p, 0o644) })
	replace(t, filepath.Join(dir, "root/proc/version"), sparse(8<<30))
	replace(t, filepath.Join(dir, "root/proc/self/mountinfo"), sparse(300<<20))
	replace(t, filepath.Join(dir, "syscalls.json"), sparse(1<<30))
	if _, err := capture.ReplayEnv(dir, suite.All()); !errors.Is(err, bounded.ErrTooLarge) {
		t.Errorf("a 1 GiB syscalls.json: err = %v, want ErrTooLarge", err)
	}
	replace(t, filepath.Join(dir, "syscalls.json"), func(p string) error { return os.WriteFile(p, []byte("{}"), 0o644) })
	all := suite.All()
	env, err := capture.ReplayEnv(dir, all)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]error{
		"proc/cpuinfo": bounded.ErrNotRegular, "proc/version": bounded.ErrTooLarge, "proc/self/mountinfo": bounded.ErrTooLarge,
	} {
		if _, err := fs.ReadFile(env.Root, name); !errors.Is(err, want) {
			t.Errorf("ReadFile(%s): err = %v, want %v", name, err, want)
		}
		f, err := env.Root.Open(name)
		if err == nil {
			f.Close()
			t.Errorf("Open(%s) succeeded", name)
		}
	}
	if _, err := fs.ReadFile(env.Root, "proc/meminfo"); err == nil {
		t.Error("proc/meminfo, a symlink to /dev/zero, was read")
	}
	sc := probes.Run(context.Background(), env, all, probes.Options{})
	if _, ok := sc.Facts["kernel.version"]; ok {
		t.Errorf("kernel.version from an 8 GiB file: %v", sc.Facts["kernel.version"])
	}
}

// FuzzReplayEnv: whatever a capture's records and mount table hold, the
// replay loads or refuses it, and the probes that read them run.
func FuzzReplayEnv(f *testing.F) {
	fixture := filepath.Join("..", "testdata", "sandboxes", "host")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(fixture, name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(read("PROVENANCE.toml"), read("syscalls.json"), read("active.json"), read("root/proc/self/mountinfo"))
	f.Add([]byte("name = 1"), []byte(`{"uname":{"result":[1,2]}}`), []byte(`{"overlay":{"observation":{"facts":{"x":[[[]]]}}}}`), []byte("1 2 3"))
	all := suite.All()
	var some []probes.Probe
	for _, p := range all {
		switch p.ID() {
		case "kernel", "mounts", "overlay", "identity":
			some = append(some, p)
		}
	}
	f.Fuzz(func(t *testing.T, prov, calls, active, mountinfo []byte) {
		dir := t.TempDir()
		for name, data := range map[string][]byte{
			"PROVENANCE.toml": prov, "syscalls.json": calls, "active.json": active,
			"root/proc/self/mountinfo": mountinfo, "root/proc/version": []byte("Linux version 6.1.0\n"),
		} {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		env, err := capture.ReplayEnv(dir, all)
		if err != nil {
			return
		}
		probes.Run(context.Background(), env, some, probes.Options{})
	})
}
