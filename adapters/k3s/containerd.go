package k3s

// How kprobe gives k3s's embedded containerd settings that k3s has no
// flag for (restrict_oom_score_adj, enable_unprivileged_ports, ...).
//
// The mechanism (k3s-io/docs docs/advanced.md, "Configuring containerd"):
// k3s renders <data-dir>/agent/etc/containerd/config.toml on every start
// from a Go text/template. If a template file exists in that directory it
// is used instead of the built-in one:
//   - config-v3.toml.tmpl, a containerd config version 3 template, for
//     k3s with containerd 2.0 (the February 2025 releases v1.31.6+k3s1 and
//     v1.32.2+k3s1, and later);
//   - config.toml.tmpl, a version 2 template, before that. k3s with
//     containerd 2.0 still renders config.toml.tmpl when there is no
//     config-v3.toml.tmpl, and containerd 2.0 reads version 2 configs.
//
// The template's dot is k3s's templates.ContainerdConfig (NodeConfig,
// DisableCgroup, SystemdCgroup, IsRunningInUserNS, EnableUnprivileged,
// PrivateRegistryConfig, ExtraRuntimes; k3s-io/k3s
// pkg/agent/templates/templates.go and pkg/agent/containerd/config_linux.go).
//
// Since the September 2023 releases a template may start with
// {{ template "base" . }} to include k3s's stock template and add to it.
// kprobe cannot use that here: every key it needs lives in the CRI plugin
// table the base template already opens ([plugins."io.containerd.grpc.v1.cri"]
// in v2, [plugins.'io.containerd.cri.v1.runtime'] in v3), and the base
// itself sets enable_unprivileged_ports/icmp always and
// restrict_oom_score_adj, disable_apparmor and disable_cgroup
// conditionally. TOML 1.0 forbids defining a table twice, a key twice,
// or a table by dotted keys and again by a header; so the keys cannot
// follow the base (re-opened table, or dotted keys that land in the last
// table the base opened) nor precede it (dotted keys, then the base's
// header: rejected by containerd 2.x's parser pelletier/go-toml/v2,
// merged only by lenient ones). TestBaseTemplateCannotCarryCRIKeys shows
// the cases. kprobe therefore writes a full template, modelled on
// k3s's stock ones (ContainerdConfigTemplate in templates_linux.go,
// ContainerdConfigTemplateV3 in templates.go), with the plan's keys
// written as literals and every other k3s-computed value left as the same
// template action k3s uses, so the file still adapts to the node.
//
// A full template only uses fields that exist in every k3s release that
// reads that file name; what it leaves out is listed in Rendered.Notes.

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Template file names.
const (
	TemplateV2 = "config.toml.tmpl"
	TemplateV3 = "config-v3.toml.tmpl"
)

// criPlace is where a CRI key lives in containerd's config.
type criPlace int

const (
	placeRuntime     criPlace = iota // v2 [plugins."io.containerd.grpc.v1.cri"], v3 [plugins.'io.containerd.cri.v1.runtime']
	placeRuncOptions                 // the runc runtime's options table
)

// criKeys are the containerd CRI keys kprobe can place in a template.
// (containerd docs/cri/config.md for release/1.7 and release/2.0.)
var criKeys = map[string]criPlace{
	"enable_unprivileged_ports":           placeRuntime,
	"enable_unprivileged_icmp":            placeRuntime,
	"disable_cgroup":                      placeRuntime,
	"disable_apparmor":                    placeRuntime,
	"restrict_oom_score_adj":              placeRuntime,
	"disable_hugetlb_controller":          placeRuntime,
	"tolerate_missing_hugetlb_controller": placeRuntime,
	"disable_proc_mount":                  placeRuntime,
	"max_container_log_line_size":         placeRuntime,
	"netns_mounts_under_state_dir":        placeRuntime,
	"SystemdCgroup":                       placeRuncOptions,
}

func criKeyNames() []string {
	out := make([]string, 0, len(criKeys)+len(containerdFlags))
	for k := range criKeys {
		out = append(out, k)
	}
	for k := range containerdFlags {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// k3sDefault is what k3s's stock template writes for a runtime key the
// plan does not set, so the full template keeps k3s's own behaviour.
var k3sDefault = map[string]string{
	"enable_unprivileged_ports": "  enable_unprivileged_ports = {{ .EnableUnprivileged }}\n",
	"enable_unprivileged_icmp":  "  enable_unprivileged_icmp = {{ .EnableUnprivileged }}\n",
	"disable_cgroup":            "{{- if .DisableCgroup }}\n  disable_cgroup = true\n{{- end }}\n",
	"disable_apparmor":          "{{- if .IsRunningInUserNS }}\n  disable_apparmor = true\n{{- end }}\n",
	"restrict_oom_score_adj":    "{{- if .IsRunningInUserNS }}\n  restrict_oom_score_adj = true\n{{- end }}\n",
}

// runtimeKeyOrder is the order of k3s's own keys; other plan keys follow,
// sorted.
var runtimeKeyOrder = []string{
	"enable_unprivileged_ports", "enable_unprivileged_icmp",
	"disable_cgroup", "disable_apparmor", "restrict_oom_score_adj",
}

var versionRe = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)`)

// templateFor picks the template file for a k3s version: v3 from the
// first releases that ship containerd 2.0 (v1.31.6+k3s1, v1.32.2+k3s1;
// k3s-io/docs docs/advanced.md "Version Gate"), v2 before. An unknown
// version gets config.toml.tmpl, the one name every k3s release reads.
func templateFor(version string) (name string, v3 bool, err error) {
	if version == "" {
		return TemplateV2, false, nil
	}
	m := versionRe.FindStringSubmatch(version)
	if m == nil {
		return "", false, fmt.Errorf("k3s: version %q is not a k3s version like v1.32.2+k3s1", version)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	switch {
	case major > 1, minor >= 33,
		minor == 32 && patch >= 2,
		minor == 31 && patch >= 6:
		return TemplateV3, true, nil
	}
	return TemplateV2, false, nil
}

// tomlValue writes a plan value as a TOML value: booleans and integers
// bare, anything else as a basic string.
func tomlValue(s string) string {
	if s == "true" || s == "false" {
		return s
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// containerdTemplate writes the full template for the plan's CRI keys.
func containerdTemplate(cri map[string]value, v3 bool, name string) ([]byte, []string, error) {
	for k, v := range cri {
		if strings.Contains(v.v, "{{") || strings.Contains(v.v, "}}") {
			return nil, nil, fmt.Errorf("k3s: containerd %s value %q contains template delimiters", k, v.v)
		}
	}
	line := func(k string) string {
		v := cri[k]
		return fmt.Sprintf("  %s = %s%s\n", k, tomlValue(v.v), comment(v.reason))
	}
	var runtime strings.Builder
	for _, k := range runtimeKeyOrder {
		if _, ok := cri[k]; ok {
			runtime.WriteString(line(k))
		} else {
			runtime.WriteString(k3sDefault[k])
		}
	}
	var extra []string
	for k := range cri {
		if criKeys[k] == placeRuntime && k3sDefault[k] == "" {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		runtime.WriteString(line(k))
	}
	systemd := "  SystemdCgroup = {{ .SystemdCgroup }}\n"
	if _, ok := cri["SystemdCgroup"]; ok {
		systemd = line("SystemdCgroup")
	}

	var keys []string
	for k, v := range cri {
		keys = append(keys, fmt.Sprintf("%s=%s", k, v.v))
	}
	sort.Strings(keys)

	var b strings.Builder
	fmt.Fprintf(&b, "# containerd config rendered by k3s from %s, which kprobe wrote because the\n", name)
	fmt.Fprintf(&b, "# plan sets containerd keys k3s has no flag for: %s.\n", strings.Join(keys, ", "))
	// No template action may appear in these comments: k3s executes the
	// whole file, comments included.
	b.WriteString("# It is a full template rather than k3s's \"base\" template plus additions: those\n")
	b.WriteString("# keys live in a table the base template already defines, and TOML forbids\n")
	b.WriteString("# defining a table or key twice. Everything else follows k3s's stock template.\n")
	var notes []string
	if v3 {
		b.WriteString(strings.Replace(v3Body, "@RUNTIME@", runtime.String(), 1))
		notes = append(notes,
			"containerd template "+name+" replaces k3s's stock one: registry mirrors and TLS still apply (hosts.toml via config_path), but --default-runtime, --nonroot-devices and the stargz snapshotter's keychain are not carried")
	} else {
		b.WriteString(strings.Replace(v2Body, "@RUNTIME@", runtime.String(), 1))
		notes = append(notes,
			"containerd template "+name+" replaces k3s's stock one: registry auth from registries.yaml still applies, but mirrors, --default-runtime and the stargz snapshotter's keychain are not carried")
	}
	out := strings.Replace(b.String(), "@SYSTEMD@", systemd, 1)
	return []byte(out), notes, nil
}

// v2Body follows k3s's ContainerdConfigTemplate (pkg/agent/templates/
// templates_linux.go), which every k3s release before containerd 2.0
// renders, and which later releases still render from config.toml.tmpl.
const v2Body = `version = 2

[plugins."io.containerd.internal.v1.opt"]
  path = "{{ .NodeConfig.Containerd.Opt }}"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "10010"
  enable_selinux = {{ .NodeConfig.SELinux }}
@RUNTIME@
{{- if .NodeConfig.AgentConfig.PauseImage }}
  sandbox_image = "{{ .NodeConfig.AgentConfig.PauseImage }}"
{{- end }}
{{- if .NodeConfig.AgentConfig.Snapshotter }}

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "{{ .NodeConfig.AgentConfig.Snapshotter }}"
  disable_snapshot_annotations = {{ if eq .NodeConfig.AgentConfig.Snapshotter "stargz" }}false{{ else }}true{{ end }}
{{- end }}
{{- if not .NodeConfig.NoFlannel }}

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{{ .NodeConfig.AgentConfig.CNIBinDir }}"
  conf_dir = "{{ .NodeConfig.AgentConfig.CNIConfDir }}"
{{- end }}

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
@SYSTEMD@
{{- if .PrivateRegistryConfig }}
{{- range $k, $v := .PrivateRegistryConfig.Configs }}
{{- with $v.Auth }}

[plugins."io.containerd.grpc.v1.cri".registry.configs."{{ $k }}".auth]
  {{ with .Username }}username = {{ printf "%q" . }}{{ end }}
  {{ with .Password }}password = {{ printf "%q" . }}{{ end }}
  {{ with .Auth }}auth = {{ printf "%q" . }}{{ end }}
  {{ with .IdentityToken }}identitytoken = {{ printf "%q" . }}{{ end }}
{{- end }}
{{- end }}
{{- end }}
{{- range $k, $v := .ExtraRuntimes }}

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes."{{ $k }}"]
  runtime_type = "{{ $v.RuntimeType }}"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes."{{ $k }}".options]
  BinaryName = "{{ $v.BinaryName }}"
{{- end }}
`

// v3Body follows k3s's ContainerdConfigTemplateV3 (pkg/agent/templates/
// templates.go) for containerd 2.x. bin_dir rather than containerd 2.1's
// bin_dirs keeps it valid for containerd 2.0, and 2.1 still accepts it.
const v3Body = `version = 3

[plugins.'io.containerd.internal.v1.opt']
  path = {{ printf "%q" .NodeConfig.Containerd.Opt }}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "10010"

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = {{ .NodeConfig.SELinux }}
@RUNTIME@
{{- with .NodeConfig.AgentConfig.Snapshotter }}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = {{ printf "%q" . }}
  disable_snapshot_annotations = {{ if eq . "stargz" }}false{{ else }}true{{ end }}
  use_local_image_pull = true
{{- end }}
{{- with .NodeConfig.AgentConfig.PauseImage }}

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = {{ printf "%q" . }}
{{- end }}

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = {{ printf "%q" .NodeConfig.Containerd.Registry }}
{{- if .PrivateRegistryConfig }}
{{- range $k, $v := .PrivateRegistryConfig.Configs }}
{{- with $v.Auth }}

[plugins.'io.containerd.cri.v1.images'.registry.configs.{{ printf "%q" $k }}.auth]
  {{ with .Username }}username = {{ printf "%q" . }}{{ end }}
  {{ with .Password }}password = {{ printf "%q" . }}{{ end }}
  {{ with .Auth }}auth = {{ printf "%q" . }}{{ end }}
  {{ with .IdentityToken }}identitytoken = {{ printf "%q" . }}{{ end }}
{{- end }}
{{- end }}
{{- end }}

[plugins.'io.containerd.cri.v1.runtime'.cni]
  {{ with .NodeConfig.AgentConfig.CNIBinDir }}bin_dir = {{ printf "%q" . }}{{ end }}
  {{ with .NodeConfig.AgentConfig.CNIConfDir }}conf_dir = {{ printf "%q" . }}{{ end }}

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
@SYSTEMD@
{{- range $k, $v := .ExtraRuntimes }}

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.{{ printf "%q" $k }}]
  runtime_type = {{ printf "%q" $v.RuntimeType }}
{{- with $v.BinaryName }}

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.{{ printf "%q" $k }}.options]
  BinaryName = {{ printf "%q" . }}
  SystemdCgroup = {{ $.SystemdCgroup }}
{{- end }}
{{- end }}
`
