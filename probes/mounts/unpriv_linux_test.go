//go:build linux

package mounts_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/mounts"
	"github.com/kprobe/kprobe/probes/probetest"
)

const nobody = 65534

// TestUnprivileged runs mounts.rshared as uid 65534: the runner cannot give
// the child a mount namespace (EPERM), so / must stay untouched, rbind is
// refused in the sandbox's namespace and works in a new user namespace.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("KPROBE_TEST_UNPRIV") == "1" {
		r := probes.Run(t.Context(), probes.LiveEnv(""), []probes.Probe{mounts.RShared{}}, probes.Options{}).Results[0]
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			t.Fatal(err)
		}
		return
	}
	probetest.RequireRoot(t)
	before := findmnt(t)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "mounts.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestUnprivileged$")
	cmd.Env = append(os.Environ(), "KPROBE_TEST_UNPRIV=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, stderr.String())
	}
	var r struct {
		Facts    map[string]any
		Findings []probes.Finding
		Evidence []probes.Evidence
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), []byte("{")) {
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, want := range map[string]string{
		"mount.rshared_possible": "unknown", // not tried: no namespace of our own
		"mount.rbind":            "no",
		"mount.userns_rshared":   "yes",
		"mount.userns_rbind":     "yes",
	} {
		if got := r.Facts[k]; got != want {
			t.Errorf("%s = %v, want %s", k, got, want)
		}
	}
	if len(r.Findings) != 1 || r.Findings[0].Code != mounts.CodeRBindUserns.Code {
		t.Errorf("findings %+v, want KP-MNT-004", r.Findings)
	}
	if after := findmnt(t); after != before {
		t.Errorf("propagation of / changed: %s -> %s", before, after)
	}
	for _, ev := range r.Evidence {
		t.Logf("evidence: %s", ev)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
