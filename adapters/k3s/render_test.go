package k3s

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func set(c adapters.Component, name, value, reason string) adapters.Setting {
	return adapters.Setting{Component: c, Name: name, Value: value, Reason: reason}
}

// The plans are built by hand so the goldens show the renderer alone,
// independent of how the rule table evolves.
var goldenCases = []struct {
	name string
	plan *adapters.Plan
	opts Options
}{
	{
		// A permissive container on a cgroup v1 host without
		// CAP_SYS_RESOURCE: rules R-CGROUP-V1 and R-OOM-SCORE.
		name: "permissive",
		plan: &adapters.Plan{
			Engine: adapters.EngineK3s, Rung: profiles.T0, DataDir: "/var/lib/rancher/k3s",
			Settings: []adapters.Setting{
				set(adapters.Kubelet, "fail-cgroupv1", "false", "R-CGROUP-V1"),
				set(adapters.Containerd, "restrict_oom_score_adj", "true", "R-OOM-SCORE"),
			},
		},
		opts: Options{K3sVersion: "v1.32.2+k3s1"},
	},
	{
		// gVisor: no worker is possible, so an agentless control plane
		// with none of the packaged components that would need one.
		name: "gvisor-control-plane",
		plan: &adapters.Plan{
			Engine: adapters.EngineK3s, Rung: profiles.T3, DataDir: "/var/lib/rancher/k3s",
			Settings: []adapters.Setting{
				set(adapters.Cluster, "data-dir", "/tmp/kprobe/k3s", "R-DATADIR-9P"),
				set(adapters.Cluster, "disable", "traefik,servicelb,metrics-server,local-storage,coredns", "R-AGENTLESS"),
				set(adapters.Cluster, "disable-agent", "true", "R-AGENTLESS"),
				set(adapters.Cluster, "disable-network-policy", "true", "R-NO-NETFILTER"),
				set(adapters.Cluster, "egress-selector-mode", "pod", "R-AGENTLESS"),
				set(adapters.Cluster, "flannel-backend", "none", "R-NO-NETFILTER"),
			},
		},
		opts: Options{K3sVersion: "v1.32.2+k3s1", ExtraArgs: []string{"--debug"}},
	},
	{
		// Root in a user namespace (unprivileged LXC, Sysbox): the
		// kubelet ignores the sysctls it cannot write, overlay is
		// replaced by FUSE, and the netfilter-heavy parts are off.
		name: "userns",
		plan: &adapters.Plan{
			Engine: adapters.EngineK3s, Rung: profiles.T2, DataDir: "/var/lib/rancher/k3s",
			Settings: []adapters.Setting{
				set(adapters.Cluster, "disable-kube-proxy", "true", "R-USERNS-NETFILTER"),
				set(adapters.Cluster, "disable-network-policy", "true", "R-USERNS-NETFILTER"),
				set(adapters.Cluster, "flannel-backend", "host-gw", "R-NO-VXLAN"),
				set(adapters.Cluster, "snapshotter", "fuse-overlayfs", "R-USERNS-OVERLAY"),
				set(adapters.KubeProxy, "conntrack-max-per-core", "0", "R-CONNTRACK-RO"),
				set(adapters.Kubelet, "feature-gates", "KubeletInUserNamespace=true", "R-USERNS-KUBELET"),
			},
		},
	},
	{
		// A gVisor worker on a k3s with containerd 1.7: the v2 template,
		// with the unprivileged port/ICMP switches forced off because
		// gVisor reports kernel 4.4.
		name: "gvisor-worker-containerd17",
		plan: &adapters.Plan{
			Engine: adapters.EngineK3s, Rung: profiles.T1, DataDir: "/var/lib/rancher/k3s",
			Settings: []adapters.Setting{
				set(adapters.Cluster, "flannel-backend", "none", "R-NO-NETFILTER"),
				set(adapters.Cluster, "snapshotter", "native", "R-OVERLAY-9P"),
				set(adapters.Containerd, "enable_unprivileged_icmp", "false", "R-KERNEL-4.11"),
				set(adapters.Containerd, "enable_unprivileged_ports", "false", "R-KERNEL-4.11"),
				set(adapters.Kubelet, "eviction-hard", "imagefs.available<1%,nodefs.available<1%", "R-9P-STATFS"),
				set(adapters.Kubelet, "local-storage-capacity-isolation", "false", "R-9P-STATFS"),
			},
		},
		opts: Options{K3sVersion: "v1.30.6+k3s1", ConfigPath: "/etc/kprobe/k3s.yaml", WriteKubeconfigMode: "0600"},
	},
}

// golden is the whole render as one reviewable text.
func golden(r *Rendered) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "== args\n%s\n", strings.Join(r.Args, " "))
	fmt.Fprintf(&b, "== env\n")
	for _, e := range r.Env {
		fmt.Fprintf(&b, "%s\n", e)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "== note\n%s\n", n)
	}
	for _, f := range r.Files() {
		fmt.Fprintf(&b, "== file %s (%#o)\n%s", f.Path, f.Mode, f.Data)
	}
	return b.Bytes()
}

func TestRenderGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Render(c.plan, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := golden(r)
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("render differs from %s (go test -update rewrites it):\n%s", path, got)
			}
			// Deterministic: a second render is byte-identical.
			again, err := Render(c.plan, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(golden(again), got) {
				t.Error("two renders of the same plan differ")
			}
		})
	}
}

var yamlKey = regexp.MustCompile(`^([a-z0-9-]+):`)

// TestRenderedKeysAreServerFlags checks every config.yaml key of every
// golden case against the list of real k3s server flags, and that the
// file only has the shapes the renderer means to write.
func TestRenderedKeysAreServerFlags(t *testing.T) {
	item := regexp.MustCompile(`^  - "([^"\\]|\\.)*"( # [A-Z0-9., -]+)?$`)
	scalar := regexp.MustCompile(`^[a-z0-9-]+: (true|false|"([^"\\]|\\.)*")( # [A-Z0-9., -]+)?$`)
	for _, c := range goldenCases {
		r, err := Render(c.plan, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		inList := false
		for _, line := range strings.Split(strings.TrimSuffix(string(r.Config), "\n"), "\n") {
			switch {
			case strings.HasPrefix(line, "#"):
				continue
			case strings.HasPrefix(line, "  - "):
				if !inList || !item.MatchString(line) {
					t.Errorf("%s: bad list item %q", c.name, line)
				}
				continue
			}
			m := yamlKey.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("%s: unexpected line %q", c.name, line)
				continue
			}
			if _, ok := knownServerFlags[m[1]]; !ok {
				t.Errorf("%s: config.yaml key %q is not a k3s server flag", c.name, m[1])
			}
			inList = strings.HasSuffix(line, ":")
			if inList != (knownServerFlags[m[1]] == kindSlice) {
				t.Errorf("%s: %q written as the wrong kind", c.name, line)
			}
			if !inList && !scalar.MatchString(line) {
				t.Errorf("%s: bad scalar %q", c.name, line)
			}
		}
	}
}

func TestComponentArgFlagsAreServerFlags(t *testing.T) {
	for c, f := range componentArgFlag {
		if knownServerFlags[f] != kindSlice {
			t.Errorf("%s: %s is not a repeatable server flag", c, f)
		}
	}
	for k, f := range containerdFlags {
		if _, ok := knownServerFlags[f]; !ok {
			t.Errorf("containerd %s maps to unknown flag %s", k, f)
		}
	}
	if _, ok := knownServerFlags["config"]; ok {
		t.Error("--config cannot be a config.yaml key")
	}
}

func TestRenderErrors(t *testing.T) {
	cases := []struct {
		name string
		plan *adapters.Plan
		opts Options
		want string
	}{
		{"nil plan", nil, Options{}, "no plan"},
		{"other engine", &adapters.Plan{Engine: adapters.EngineKubernetes}, Options{}, `engine "kubernetes"`},
		{"unknown cluster flag", &adapters.Plan{Settings: []adapters.Setting{set(adapters.Cluster, "no-such-flag", "1", "R-X")}}, Options{}, `"no-such-flag" is not a k3s server flag (setting chosen by R-X)`},
		{"bad bool", &adapters.Plan{Settings: []adapters.Setting{set(adapters.Cluster, "disable-agent", "yes please", "R-X")}}, Options{}, "disable-agent takes true or false"},
		{"conflict", &adapters.Plan{Settings: []adapters.Setting{
			set(adapters.Cluster, "snapshotter", "native", "R-A"),
			set(adapters.Containerd, "snapshotter", "fuse-overlayfs", "R-B"),
		}}, Options{}, `snapshotter set twice ("native" by R-A, "fuse-overlayfs" by R-B)`},
		{"component flag twice", &adapters.Plan{Settings: []adapters.Setting{
			set(adapters.Kubelet, "feature-gates", "A=true", "R-A"),
			set(adapters.Kubelet, "feature-gates", "B=true", "R-B"),
		}}, Options{}, "kubelet flag feature-gates set twice"},
		{"unknown cri key", &adapters.Plan{Settings: []adapters.Setting{set(adapters.Containerd, "no_such_key", "true", "R-X")}}, Options{}, `containerd setting "no_such_key" has no k3s flag`},
		{"unknown component", &adapters.Plan{Settings: []adapters.Setting{set("etcd", "x", "y", "R-X")}}, Options{}, `unknown component "etcd"`},
		{"relative data dir", &adapters.Plan{DataDir: "data"}, Options{}, "must be an absolute path"},
		{"bad mode", &adapters.Plan{}, Options{WriteKubeconfigMode: "rw-r--r--"}, "not an octal file mode"},
		{"bad version", &adapters.Plan{Settings: []adapters.Setting{set(adapters.Containerd, "restrict_oom_score_adj", "true", "R-X")}}, Options{K3sVersion: "latest"}, "not a k3s version"},
		{"template delimiters", &adapters.Plan{Settings: []adapters.Setting{set(adapters.Containerd, "max_container_log_line_size", "{{ .X }}", "R-X")}}, Options{}, "template delimiters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Render(c.plan, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestRenderDetails(t *testing.T) {
	plan := &adapters.Plan{Settings: []adapters.Setting{
		set(adapters.Cluster, "K3S_ROOTLESS_PORT_DRIVER", "slirp4netns", "R-ROOTLESS"),
		set(adapters.Cluster, "rootless", "true", "R-ROOTLESS"),
		set(adapters.Containerd, "sandbox_image", "registry.local/pause:3.10", "R-AIRGAP"),
		set(adapters.Cluster, "disable", "traefik", "R-A"),
		set(adapters.Cluster, "disable", "traefik, servicelb", "R-B"),
		set(adapters.Kubelet, "--fail-swap-on", "false", "R-SWAP"),
		set(adapters.KubeAPIServer, "feature-gates", "A=true,B=false", "R-API"),
		set(adapters.KubeControllerManager, "node-monitor-grace-period", "60s", "R-CM"),
		set(adapters.KubeScheduler, "v", "2", "R-SCHED"),
	}}
	r, err := Render(plan, Options{DataDir: "/srv/k3s", Kubeconfig: "/home/u/.kube/k3s.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(r.Config)
	for _, want := range []string{
		"data-dir: \"/srv/k3s\"\n",
		"pause-image: \"registry.local/pause:3.10\" # R-AIRGAP\n",
		"rootless: true # R-ROOTLESS\n",
		"disable:\n  - \"servicelb\" # R-B\n  - \"traefik\" # R-A, R-B\n",
		"kubelet-arg:\n  - \"fail-swap-on=false\" # R-SWAP\n",
		"kube-apiserver-arg:\n  - \"feature-gates=A=true,B=false\" # R-API\n",
		"kube-controller-manager-arg:\n  - \"node-monitor-grace-period=60s\" # R-CM\n",
		"kube-scheduler-arg:\n  - \"v=2\" # R-SCHED\n",
		"write-kubeconfig: \"/home/u/.kube/k3s.yaml\"\n",
		"write-kubeconfig-mode: \"0644\"\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config.yaml lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "K3S_ROOTLESS") {
		t.Error("an environment variable leaked into config.yaml")
	}
	if got := strings.Join(r.Env, " "); got != "K3S_ROOTLESS_PORT_DRIVER=slirp4netns" {
		t.Errorf("env = %q", got)
	}
	if r.ConfigPath != "/srv/k3s/kprobe/config.yaml" || r.ContainerdTemplatePath != "" {
		t.Errorf("paths: config %q template %q", r.ConfigPath, r.ContainerdTemplatePath)
	}
	if got := strings.Join(r.Args, " "); got != "server --config /srv/k3s/kprobe/config.yaml" {
		t.Errorf("args = %q", got)
	}
}

func TestTemplateFor(t *testing.T) {
	for v, want := range map[string]string{
		"":              TemplateV2,
		"v1.30.6+k3s1":  TemplateV2,
		"v1.31.5+k3s1":  TemplateV2,
		"v1.31.6+k3s1":  TemplateV3,
		"v1.32.1+k3s1":  TemplateV2,
		"v1.32.2+k3s1":  TemplateV3,
		"v1.33.0+k3s1":  TemplateV3,
		"1.35.1+k3s2":   TemplateV3,
		"v2.0.0+k3s1":   TemplateV3,
		"v1.29.15+k3s1": TemplateV2,
	} {
		got, _, err := templateFor(v)
		if err != nil || got != want {
			t.Errorf("templateFor(%q) = %q, %v; want %q", v, got, err, want)
		}
	}
}

// TestRenderBindAddress: k3s listens on every address by default; the
// render binds loopback unless launch passes a narrower-than-all choice
// (the node's address when pods reach the API), and refuses a non-IP.
func TestRenderBindAddress(t *testing.T) {
	plan := goldenCases[0].plan
	for _, c := range []struct{ in, want string }{
		{"", `bind-address: "127.0.0.1"`},
		{"192.0.2.7", `bind-address: "192.0.2.7"`},
		{"0.0.0.0", `bind-address: "0.0.0.0"`}, // only when the user asks
	} {
		r, err := Render(plan, Options{BindAddress: c.in})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(r.Config), c.want+"\n") {
			t.Errorf("BindAddress %q: config.yaml lacks %s:\n%s", c.in, c.want, r.Config)
		}
		if strings.Count(string(r.Config), "bind-address:") != 1 {
			t.Errorf("BindAddress %q: bind-address not exactly once:\n%s", c.in, r.Config)
		}
	}
	if _, err := Render(plan, Options{BindAddress: "localhost"}); err == nil {
		t.Error("BindAddress localhost: no error, want one (not an IP address)")
	}
}
