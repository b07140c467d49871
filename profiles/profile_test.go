package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/probes"
)

var testSchema = probes.Schema{
	"identity.sandbox":      {Key: "identity.sandbox", Type: probes.TypeString},
	"cgroups.writable":      {Key: "cgroups.writable", Type: probes.TypeTri},
	"cgroups.controllers":   {Key: "cgroups.controllers", Type: probes.TypeList},
	"res.memory_bytes":      {Key: "res.memory_bytes", Type: probes.TypeInt},
	"container.best":        {Key: "container.best", Type: probes.TypeString},
	"overlay.mount_datadir": {Key: "overlay.mount_datadir", Type: probes.TypeTri},
}

func testScan() *probes.Scan {
	return &probes.Scan{
		Facts: probes.Facts{
			"identity.sandbox": "vm", "cgroups.writable": probes.Yes,
			"cgroups.controllers": []string{"cpu", "memory"}, "res.memory_bytes": int64(24 << 30),
			"container.best": "full", "overlay.mount_datadir": probes.No,
		},
		Results: []probes.Result{{ID: "overlay", Findings: []probes.Finding{{
			Code: "KP-OV-001", Severity: probes.Warn, Summary: "overlay refused",
			Evidence: probes.Evidence{Source: "mount(2)", Errno: "EINVAL"}, Fix: "--snapshotter=native",
		}}}},
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	p := FromScan(testScan(), "v0.0.1", time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "sandbox.toml")
	if err := Save(path, p, testSchema); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, got) {
		t.Fatalf("profile did not load back identically:\nsaved %+v\nloaded %+v", p, got)
	}
	if got.Verdict.Rung != T1 {
		// overlay.mount_datadir=no rules out T0; unknown facts do not.
		t.Errorf("verdict %s, want T1 (overlay not mountable)", got.Verdict.Rung)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	good, err := Encode(FromScan(testScan(), "v0", time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		edit func(string) string
		want []string
	}{
		"unknown top-level key": {func(s string) string { return "colour = \"red\"\n" + s }, []string{"colour: unknown key"}},
		"unknown nested key": {func(s string) string {
			return strings.Replace(s, "[identity]\n", "[identity]\nshoe_size = 9\n", 1)
		}, []string{"identity.shoe_size: unknown key"}},
		"unknown fact": {func(s string) string {
			return strings.Replace(s, "[facts]\n", "[facts]\n\"cgroups.bogus\" = \"yes\"\n", 1)
		}, []string{`facts."cgroups.bogus": unknown fact key`}},
		"fact of the wrong type": {func(s string) string {
			return strings.Replace(s, `"cgroups.writable" = "yes"`, `"cgroups.writable" = 7`, 1)
		}, []string{`facts."cgroups.writable"`}},
		"bad tri": {func(s string) string {
			return strings.Replace(s, `containers_start = "yes"`, `containers_start = "perhaps"`, 1)
		}, []string{"perhaps"}},
		"wrong apiVersion": {func(s string) string {
			return strings.Replace(s, APIVersion, "kprobe.dev/v9", 1)
		}, []string{"apiVersion"}},
		"bad rung": {func(s string) string {
			return strings.Replace(s, `rung = "T1"`, `rung = "T9"`, 1)
		}, []string{"verdict.rung"}},
		"syntax error": {func(s string) string { return s + "\n[[[" }, []string{"TOML syntax error at line"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			in := c.edit(string(good))
			if in == string(good) {
				t.Fatal("edit did not apply")
			}
			_, err := Decode([]byte(in), testSchema)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSaveKeepsPreviousAndRefusesBroken(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.toml")
	first := FromScan(testScan(), "v1", time.Unix(0, 0))
	if err := Save(path, first, testSchema); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	broken := FromScan(testScan(), "v2", time.Unix(0, 0))
	broken.Facts["not.a.fact"] = "x"
	if err := Save(path, broken, testSchema); err == nil {
		t.Fatal("a profile with an undeclared fact was saved")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("a failed save changed the good profile")
	}
	second := FromScan(testScan(), "v3", time.Unix(0, 0))
	if err := Save(path, second, testSchema); err != nil {
		t.Fatal(err)
	}
	bak, err := os.ReadFile(path + ".bak")
	if err != nil || string(bak) != string(before) {
		t.Fatalf("previous profile not kept as .bak: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("temp files left behind: %v", ents)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(FromScan(testScan(), "v0", time.Unix(0, 0)))
	f.Add(string(good))
	f.Add("apiVersion = 1\n[facts]\n\"res.memory_bytes\" = \"x\"\n")
	f.Add("[[findings]]\nseverity = \"loud\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Decode([]byte(s), testSchema)
		if err != nil {
			return
		}
		// Whatever loads must encode and load again.
		data, err := Encode(p)
		if err != nil {
			t.Fatalf("accepted profile does not encode: %v", err)
		}
		if _, err := Decode(data, testSchema); err != nil {
			t.Fatalf("accepted profile does not load back: %v\n%s", err, data)
		}
	})
}
