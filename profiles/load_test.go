package profiles

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/bounded"
)

// planSchema is testSchema with every fact the ladder reads.
func planSchema() probes.Schema {
	s := probes.Schema{
		"net.interfaces":       {Key: "net.interfaces", Type: probes.TypeList},
		"net.iptables_backend": {Key: "net.iptables_backend", Type: probes.TypeString},
	}
	for k, v := range testSchema {
		s[k] = v
	}
	for _, k := range unjudged {
		s[k] = probes.FactSpec{Key: k, Type: probes.TypeTri}
	}
	return s
}

// unjudged are the ladder's tri-state facts fullScan leaves unknown.
var unjudged = []string{"ns.mount", "ns.userns_mount", "net.veth", "net.bridge", "net.vxlan",
	"dev.kmsg_readable", "fs.datadir.kubelet_stats", "mount.rshared_possible", "priv.userns"}

// fullScan is testScan with every fact the ladder reads.
func fullScan() *probes.Scan {
	sc := testScan()
	sc.Facts["net.interfaces"] = []string{"lo", "eth0"}
	sc.Facts["net.iptables_backend"] = "nft"
	for _, k := range unjudged {
		sc.Facts[k] = probes.Unknown
	}
	return sc
}

// TestPlannableRefusesAProfileWithoutFacts: a profile with no facts, or
// without some the ladder reads, used to be judged T0 (unknown never rules
// a rung out); Plannable refuses it and names the missing keys.
func TestPlannableRefusesAProfileWithoutFacts(t *testing.T) {
	dir := t.TempDir()
	noFacts := "apiVersion = \"" + APIVersion + "\"\nkind = \"" + Kind + "\"\n"
	some, err := Encode(FromScan(testScan(), "v0", time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"none.toml": noFacts, "some.toml": string(some)} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(path, testSchema)
		if err != nil {
			t.Fatalf("Load(%s): %v", name, err)
		}
		err = Plannable(p)
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("Load(%s): err = %v, want a ValidationError", name, err)
		}
		for _, k := range []string{"net.vxlan", "priv.userns", "dev.kmsg_readable"} {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("Load(%s) does not name the missing %s: %v", name, k, err)
			}
		}
	}
	if p, err := Load(filepath.Join(dir, "none.toml"), testSchema); err != nil || !strings.Contains(fmt.Sprint(Plannable(p)), "res.memory_bytes") {
		t.Errorf("a profile without facts must name res.memory_bytes too: %v", Plannable(p))
	}
	full, err := Encode(FromScan(fullScan(), "v0", time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Decode(full, planSchema())
	if err != nil {
		t.Fatal(err)
	}
	if err := Plannable(p); err != nil {
		t.Errorf("a whole scan's profile is not plannable: %v", err)
	}
}

// TestLoadIsBounded: /dev/zero, a FIFO and an 8 GiB sparse file are
// refused at once instead of read until memory runs out (or forever).
func TestLoadIsBounded(t *testing.T) {
	dir := t.TempDir()
	sparse := filepath.Join(dir, "sparse.toml")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]error{
		"/dev/zero": bounded.ErrNotRegular, fifo: bounded.ErrNotRegular, sparse: bounded.ErrTooLarge,
	} {
		if _, err := Load(path, testSchema); !errors.Is(err, want) {
			t.Errorf("Load(%s): err = %v, want %v", path, err, want)
		}
	}
}
