//go:build linux

package overlay_test

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
	"github.com/kprobe/kprobe/probes/overlay"
	"github.com/kprobe/kprobe/probes/probetest"
)

const nobody = 65534

// TestUnprivileged runs the probe as uid 65534 (like a rootless sandbox
// user: no capabilities, clone(CLONE_NEWNS) refused, user namespaces
// allowed) by re-running this test binary under that uid. The child path
// prints the result as JSON.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("KPROBE_TEST_UNPRIV") == "1" {
		env := probes.LiveEnv(os.Getenv("KPROBE_TEST_DATADIR"))
		r := probes.Run(t.Context(), env, []probes.Probe{overlay.Probe{}}, probes.Options{}).Results[0]
		if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
			t.Fatal(err)
		}
		return
	}
	probetest.RequireRoot(t)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "overlay.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestUnprivileged$")
	cmd.Env = append(os.Environ(), "KPROBE_TEST_UNPRIV=1", "KPROBE_TEST_DATADIR="+filepath.Join(data, "k3s"))
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
		"overlay.mount_tmpfs": "no", "overlay.mount_datadir": "no", // EPERM: no CAP_SYS_ADMIN, no own mount ns
		"overlay.userns_tmpfs": "yes", "overlay.userns_datadir": "yes", "overlay.userns_whiteout": "yes",
		"overlay.datadir_path": data,
	} {
		if got := r.Facts[k]; got != want {
			t.Errorf("%s = %v, want %s", k, got, want)
		}
	}
	if len(r.Findings) != 1 || r.Findings[0].Code != "KP-OVL-001" || r.Findings[0].Evidence.Errno != "EPERM" {
		t.Errorf("findings %+v, want KP-OVL-001 (EPERM)", r.Findings)
	} else if want := "k3s server --rootless"; !bytes.HasPrefix([]byte(r.Findings[0].Fix), []byte(want)) {
		t.Errorf("fix %q, want it to start with %q", r.Findings[0].Fix, want)
	}
	if ents, _ := os.ReadDir(data); len(ents) != 0 {
		t.Errorf("left in %s: %v", data, ents)
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
