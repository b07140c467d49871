package profiles

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/suite"
)

// wantBuiltins is the list issue 5 asks for.
var wantBuiltins = []string{
	"bubblewrap", "codespaces", "docker-privileged", "docker-unprivileged", "gitpod", "gvisor-9p",
	"gvisor-overlay", "lxc", "nspawn", "podman", "rootless-userns", "vm-or-host", "wsl2",
}

func TestBuiltinsLoadStrictly(t *testing.T) {
	bs, err := Builtins()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
	}
	if !slices.Equal(names, wantBuiltins) {
		t.Fatalf("built-in profiles %v, want %v", names, wantBuiltins)
	}
	if got := BuiltinNames(); !slices.Equal(got, wantBuiltins) {
		t.Errorf("BuiltinNames() = %v", got)
	}
	schema := probes.SchemaOf(suite.All())
	for _, b := range bs {
		t.Run(b.Name, func(t *testing.T) {
			if b.Description == "" || b.Identity.Sandbox == "" || len(b.Identity.Markers) == 0 {
				t.Errorf("missing description, identity or markers: %+v", b.Identity)
			}
			if first, _, _ := strings.Cut(b.Description, "\n"); len(first) > 220 {
				t.Errorf("the first line of the description is what 'profile list' shows; keep it short (%d chars)", len(first))
			}
			if got := b.Facts.String("identity.sandbox"); got != "" && got != b.Identity.Sandbox {
				t.Errorf("fact identity.sandbox=%s but [identity] sandbox=%s", got, b.Identity.Sandbox)
			}
			// The file's own verdict and capabilities must be what Judge
			// and Derive say of its facts (the loader re-judges, so decode
			// the file itself).
			data, err := builtinFS.ReadFile("builtin/" + b.Name + ".toml")
			if err != nil {
				t.Fatal(err)
			}
			raw, err := Decode(data, schema)
			if err != nil {
				t.Fatal(err)
			}
			v := Judge(raw.Facts)
			if raw.Verdict.Rung != v.Rung || raw.Verdict.Title != v.Title {
				t.Errorf("[verdict] says %s %q; Judge of its facts says\nrung = %q\ntitle = %q", raw.Verdict.Rung, raw.Verdict.Title, v.Rung, v.Title)
			}
			if c := Derive(raw.Facts); raw.Capabilities != c {
				t.Errorf("[capabilities] differ from Derive of its facts:\n%s", capsTOML(c))
			}
			if !reflect.DeepEqual(b.Verdict, v) {
				t.Errorf("the loaded verdict is not Judge's: %+v", b.Verdict)
			}
			// A profile must be recognisable: it records identifying facts
			// worth at least a third of the table.
			var w, all float64
			for _, mk := range MatchKeys {
				all += mk.Weight
				if Known(b.Facts[mk.Key]) {
					w += mk.Weight
				}
			}
			if w < all/3 {
				t.Errorf("records identifying facts worth %.1f of %.1f; add the facts that tell it apart", w, all)
			}
			// Saving a built-in profile keeps it valid.
			enc, err := Encode(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decode(enc, schema); err != nil {
				t.Errorf("does not load back after Encode: %v", err)
			}
		})
	}
}

func capsTOML(c Capabilities) string {
	return fmt.Sprintf("containers_start = %q\ncgroups_writable = %q\noverlay_mountable = %q\nkmsg_readable = %q\niptables_usable = %q\nuser_namespaces = %q\nin_user_namespace = %q\nkubelet_stats = %q",
		c.ContainersStart, c.CgroupsWritable, c.OverlayMountable, c.KmsgReadable, c.IptablesUsable, c.UserNamespaces, c.InUserNamespace, c.KubeletStats)
}

func TestBuiltinByName(t *testing.T) {
	p, err := Builtin("builtin:gvisor-9p")
	if err != nil || p.Name != "gvisor-9p" {
		t.Fatalf("Builtin(builtin:gvisor-9p) = %v, %v", p, err)
	}
	// Copies are independent.
	p.Facts["fs.root.type"] = "ext4"
	p.Verdict.Checks[0].Blockers = nil
	again, _ := Builtin("gvisor-9p")
	if again.Facts.String("fs.root.type") != "9p" || len(again.Verdict.Checks[0].Blockers) == 0 {
		t.Error("changing a returned built-in profile changed the next one")
	}
	_, err = Builtin("gvisor")
	var ue *UnknownBuiltinError
	if !errors.As(err, &ue) || ue.Name != "gvisor" || !slices.Equal(ue.Known, wantBuiltins) {
		t.Fatalf("Builtin(gvisor) = %v", err)
	}
	if !strings.Contains(err.Error(), "gvisor-9p, gvisor-overlay") {
		t.Errorf("the error does not list the known names: %v", err)
	}
}

func TestLoadBuiltinsIsStrict(t *testing.T) {
	// A schema without one of the facts the files use must fail to load
	// them, naming the file and the key.
	schema := probes.SchemaOf(suite.All())
	delete(schema, "kernel.emulated")
	_, err := LoadBuiltins(schema)
	if err == nil || !strings.Contains(err.Error(), "builtin/gvisor-9p.toml") || !strings.Contains(err.Error(), `facts."kernel.emulated": unknown fact key`) {
		t.Fatalf("LoadBuiltins with a smaller schema: %v", err)
	}
	if _, err := fs.Stat(builtinFS, "builtin/gvisor-9p.toml"); err != nil {
		t.Fatal(err)
	}
}
