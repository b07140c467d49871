package k3s

import (
	"fmt"
	"strings"
	"testing"
	"text/template"

	"github.com/BurntSushi/toml"

	"github.com/kprobe/kprobe/adapters"
)

// The types below mirror the parts of k3s's templates.ContainerdConfig
// (pkg/agent/templates/templates.go) and config.Node that kprobe's
// templates read, with k3s's field names, so executing a template here
// fails exactly where k3s's execution would on a missing field.
type fakeNode struct {
	SELinux    bool
	NoFlannel  bool
	Containerd struct {
		Opt      string
		Registry string
	}
	AgentConfig struct {
		PauseImage  string
		Snapshotter string
		CNIBinDir   string
		CNIConfDir  string
	}
}

type fakeAuth struct{ Username, Password, Auth, IdentityToken string }

type fakeRegistryConfig struct {
	Auth *fakeAuth
	TLS  *struct{ CAFile string }
}

type fakeRegistry struct {
	Mirrors map[string]struct{ Endpoints []string }
	Configs map[string]fakeRegistryConfig
}

type fakeRuntime struct{ RuntimeType, BinaryName string }

type fakeContainerdConfig struct {
	NodeConfig            *fakeNode
	DisableCgroup         bool
	SystemdCgroup         bool
	IsRunningInUserNS     bool
	EnableUnprivileged    bool
	PrivateRegistryConfig *fakeRegistry
	ExtraRuntimes         map[string]fakeRuntime
	Program               string
}

// execute renders a template the way k3s's ParseTemplateFromConfig does:
// text/template with "base" defined (here as an empty stand-in).
func execute(t *testing.T, tmpl []byte, data any) string {
	t.Helper()
	tt, err := template.New("compiled_template").Parse(string(tmpl))
	if err != nil {
		t.Fatalf("parse template: %v", err)
	}
	template.Must(tt.New("base").Parse("BASE WAS INCLUDED"))
	var b strings.Builder
	if err := tt.Execute(&b, data); err != nil {
		t.Fatalf("execute template: %v", err)
	}
	return b.String()
}

// lookup walks a decoded TOML document.
func lookup(doc map[string]any, path ...string) (any, bool) {
	var cur any = doc
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func dataVariants() []fakeContainerdConfig {
	var out []fakeContainerdConfig
	for i := 0; i < 16; i++ {
		n := &fakeNode{SELinux: i&1 == 1, NoFlannel: i&2 == 2}
		n.Containerd.Opt = "/var/lib/rancher/k3s/agent/containerd"
		n.Containerd.Registry = "/var/lib/rancher/k3s/agent/etc/containerd/certs.d"
		n.AgentConfig.PauseImage = "rancher/mirrored-pause:3.6"
		n.AgentConfig.CNIBinDir = "/var/lib/rancher/k3s/data/current/bin"
		n.AgentConfig.CNIConfDir = "/var/lib/rancher/k3s/agent/etc/cni/net.d"
		switch i % 3 {
		case 0:
			n.AgentConfig.Snapshotter = "overlayfs"
		case 1:
			n.AgentConfig.Snapshotter = "stargz"
		}
		d := fakeContainerdConfig{
			NodeConfig:         n,
			DisableCgroup:      i&4 == 4,
			IsRunningInUserNS:  i&8 == 8,
			SystemdCgroup:      i&4 == 0,
			EnableUnprivileged: i&2 == 0,
			Program:            "k3s",
		}
		if i&1 == 1 {
			d.PrivateRegistryConfig = &fakeRegistry{Configs: map[string]fakeRegistryConfig{
				"registry.example:5000": {Auth: &fakeAuth{Username: "u", Password: `p"w`}},
				"docker.io":             {TLS: &struct{ CAFile string }{"/ca.pem"}},
			}}
			d.ExtraRuntimes = map[string]fakeRuntime{
				"nvidia": {RuntimeType: "io.containerd.runc.v2", BinaryName: "/usr/bin/nvidia-container-runtime"},
				"crun":   {RuntimeType: "io.containerd.runc.v2", BinaryName: "/usr/bin/crun"},
			}
		}
		out = append(out, d)
	}
	return out
}

// TestContainerdTemplateIsValidTOML executes every template kprobe can
// write against many node configurations and checks that the result is
// valid TOML with the plan's keys in the tables containerd reads them
// from, and k3s's own values everywhere else.
func TestContainerdTemplateIsValidTOML(t *testing.T) {
	planKeys := map[string]string{
		"restrict_oom_score_adj":      "true",
		"enable_unprivileged_ports":   "false",
		"enable_unprivileged_icmp":    "false",
		"disable_hugetlb_controller":  "true",
		"max_container_log_line_size": "32768",
	}
	for _, version := range []string{"v1.30.6+k3s1", "v1.32.2+k3s1"} {
		for _, withSystemd := range []bool{false, true} {
			plan := &adapters.Plan{Engine: adapters.EngineK3s}
			for k, v := range planKeys {
				plan.Settings = append(plan.Settings, set(adapters.Containerd, k, v, "R-TEST"))
			}
			if withSystemd {
				plan.Settings = append(plan.Settings, set(adapters.Containerd, "SystemdCgroup", "false", "R-TEST"))
			}
			r, err := Render(plan, Options{K3sVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			runtimeTable := []string{"plugins", "io.containerd.grpc.v1.cri"}
			runc := []string{"plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options"}
			wantVersion := int64(2)
			if strings.HasSuffix(r.ContainerdTemplatePath, TemplateV3) {
				runtimeTable = []string{"plugins", "io.containerd.cri.v1.runtime"}
				runc = []string{"plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runc", "options"}
				wantVersion = 3
			}
			for i, d := range dataVariants() {
				name := fmt.Sprintf("%s/systemd=%v/variant%d", version, withSystemd, i)
				out := execute(t, r.ContainerdTemplate, d)
				if strings.Contains(out, "BASE WAS INCLUDED") {
					t.Fatalf("%s: the template includes k3s's base template", name)
				}
				doc := map[string]any{}
				if _, err := toml.Decode(out, &doc); err != nil {
					t.Fatalf("%s: rendered config is not valid TOML: %v\n%s", name, err, out)
				}
				if v, _ := lookup(doc, "version"); v != wantVersion {
					t.Errorf("%s: version = %v", name, v)
				}
				for k, v := range planKeys {
					got, ok := lookup(doc, append(runtimeTable, k)...)
					if !ok || fmt.Sprint(got) != v {
						t.Errorf("%s: %s = %v (present %v), want %s", name, k, got, ok, v)
					}
				}
				// Keys the plan leaves alone keep k3s's logic.
				_, hasAA := lookup(doc, append(runtimeTable, "disable_apparmor")...)
				_, hasCG := lookup(doc, append(runtimeTable, "disable_cgroup")...)
				if hasAA != d.IsRunningInUserNS || hasCG != d.DisableCgroup {
					t.Errorf("%s: disable_apparmor %v disable_cgroup %v for userns %v disable %v", name, hasAA, hasCG, d.IsRunningInUserNS, d.DisableCgroup)
				}
				wantSystemd := d.SystemdCgroup
				if withSystemd {
					wantSystemd = false
				}
				if v, _ := lookup(doc, append(runc, "SystemdCgroup")...); v != wantSystemd {
					t.Errorf("%s: SystemdCgroup = %v, want %v", name, v, wantSystemd)
				}
				if d.ExtraRuntimes != nil {
					rt := append(runc[:len(runc)-2:len(runc)-2], "nvidia", "options", "BinaryName")
					if v, _ := lookup(doc, rt...); v != "/usr/bin/nvidia-container-runtime" {
						t.Errorf("%s: extra runtime lost: %v", name, v)
					}
				}
			}
		}
	}
}

// TestBaseTemplateCannotCarryCRIKeys is why kprobe writes a full
// template: k3s's base template already opens the CRI table (and sets
// enable_unprivileged_ports in it), so adding the plan's keys after
// {{ template "base" . }} - or before it - is not valid TOML, or puts
// them in the wrong table. The base below is k3s's stock v2 template as
// rendered for a plain node (pkg/agent/templates/templates_linux.go),
// trimmed to its table structure.
func TestBaseTemplateCannotCarryCRIKeys(t *testing.T) {
	base := `version = 2

[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/rancher/k3s/agent/containerd"
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "10010"
  enable_selinux = false
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
`
	decode := func(s string) (map[string]any, error) {
		doc := map[string]any{}
		_, err := toml.Decode(s, &doc)
		return doc, err
	}
	if _, err := decode(base); err != nil {
		t.Fatalf("the base itself must parse: %v", err)
	}
	// After the base, re-opening the table: "table defined twice".
	after := base + "\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  restrict_oom_score_adj = true\n"
	if _, err := decode(after); err == nil {
		t.Error("re-opening the CRI table after the base parsed; a base-template extension would work")
	}
	// Overriding a key the base sets: "key defined twice".
	override := base + "\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  enable_unprivileged_ports = false\n"
	if _, err := decode(override); err == nil {
		t.Error("overriding enable_unprivileged_ports after the base parsed")
	}
	// Before the base, as dotted keys: for a key the base also sets, a
	// duplicate key. (For a key the base leaves out, the base's
	// [plugins."io.containerd.grpc.v1.cri"] header then defines a table
	// the dotted keys already defined: invalid TOML 1.0, and containerd
	// 2.x's parser, pelletier/go-toml/v2, rejects it with "table cri
	// already exists as defined by a dotted key"; BurntSushi/toml and
	// go-toml v1 merge it, so this test cannot show that case.)
	before := "plugins.\"io.containerd.grpc.v1.cri\".enable_unprivileged_ports = false\n" + base
	if _, err := decode(before); err == nil {
		t.Error("dotted keys before the base parsed")
	}
	// After the base as dotted keys: valid TOML, but the keys land under
	// the last table the base opened, where containerd never looks.
	dotted := base + "plugins.\"io.containerd.grpc.v1.cri\".restrict_oom_score_adj = true\n"
	doc, err := decode(dotted)
	if err != nil {
		t.Fatalf("dotted keys after the base: %v", err)
	}
	if _, ok := lookup(doc, "plugins", "io.containerd.grpc.v1.cri", "restrict_oom_score_adj"); ok {
		t.Error("dotted keys after the base reached the CRI table; a base-template extension would work")
	}
}
