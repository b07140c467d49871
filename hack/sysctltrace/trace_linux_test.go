//go:build linux

package sysctltrace

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runTraced(t *testing.T, r *Redirector, argv ...string) string {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, err := r.Run(ctx, argv, os.Environ(), []*os.File{null, out, os.Stderr})
	if err != nil || code != 0 {
		t.Fatalf("run %v: code %d, %v", argv, code, err)
	}
	b, _ := os.ReadFile(out.Name())
	return string(b)
}

// TestRedirector runs a Go program (many threads) and cat (C, libc) under
// the redirector: a missing entry and an unwritable one read as the fakes,
// another entry reads as itself.
func TestRedirector(t *testing.T) {
	if !traceSupported {
		t.Skip("amd64 only")
	}
	fakes := map[string]string{"kernel.kprobe_trace_missing": "42", "kernel.ngroups_max": "777"}
	files := []string{"/proc/sys/kernel/kprobe_trace_missing", "/proc/sys/kernel/ngroups_max", "/proc/sys/kernel/ostype"}
	b, err := os.ReadFile("/proc/sys/kernel/ostype")
	if err != nil {
		t.Skip(err)
	}
	ostype := strings.TrimSpace(string(b))
	want := "/proc/sys/kernel/kprobe_trace_missing=42\n/proc/sys/kernel/ngroups_max=777\n/proc/sys/kernel/ostype=" + ostype + "\n"
	cat, _ := exec.LookPath("cat")
	for _, mode := range []string{"seccomp", "syscall"} {
		t.Run(mode, func(t *testing.T) {
			r := &Redirector{Fakes: fakes, Self: os.Args[0], Mode: mode, Logf: t.Logf}
			got := runTraced(t, r, append([]string{os.Args[0], "trace-test-cat"}, files...)...)
			if got != want {
				t.Errorf("Go program read:\n%s\nwant:\n%s", got, want)
			}
			t.Logf("stats %+v", r.Stats)
			if r.Stats.Mode != mode || r.Stats.Redirected != 2 {
				t.Errorf("stats %+v, want mode %s and 2 redirects", r.Stats, mode)
			}
			if _, err := os.Stat(r.dir); !os.IsNotExist(err) {
				t.Errorf("fake dir %s left behind: %v", r.dir, err)
			}
			if cat == "" {
				return
			}
			r = &Redirector{Fakes: fakes, Self: os.Args[0], Mode: mode}
			got = runTraced(t, r, cat, files[0], files[1])
			if got != "42\n777\n" {
				t.Errorf("cat read %q", got)
			}
		})
	}
}

func TestRedirectorRewrite(t *testing.T) {
	r := &Redirector{dir: "/tmp/kp3f", fakes: map[string]bool{"kernel/panic": true}}
	if got := r.rewrite("/proc/sys/kernel/panic"); got != "/tmp/kp3f/kernel/panic" {
		t.Errorf("rewrite: %q", got)
	}
	r.dir = "/kp3f"
	if got := r.rewrite("/proc/sys/kernel/panic"); got != "/kp3f/////kernel/panic" || len(got) != len("/proc/sys/kernel/panic") {
		t.Errorf("padded rewrite: %q", got)
	}
	for _, p := range []string{"/proc/sys/kernel/panic_on_oops", "/proc/sys/kernel/../kernel/panic", "proc/sys/kernel/panic", "/proc/sys/kernel/panic/"} {
		if got := r.rewrite(p); got != "" {
			t.Errorf("rewrite(%q) = %q, want none", p, got)
		}
	}
	if filepath.Clean("/kp3f/////kernel/panic") != "/kp3f/kernel/panic" {
		t.Error("padding does not resolve")
	}
}
