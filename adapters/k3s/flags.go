package k3s

// flagKind is how a k3s flag takes its value, which decides how it is
// written in config.yaml.
type flagKind int

const (
	kindString flagKind = iota // key: "value"
	kindBool                   // key: true
	kindSlice                  // key: ["a", "b"] (the flag may be repeated)
)

// knownServerFlags are the flags `k3s server` accepts, without the leading
// dashes, and how each takes its value. Every key Render writes into
// config.yaml must be one of them: k3s turns each config.yaml key into
// the --flag of the same name and refuses unknown ones.
//
// Sources:
//   - k3s-io/docs docs/cli/server.md, section "K3s Server CLI Help" (the
//     `k3s server --help` text of current releases), including the agent
//     flags a server also takes (--kubelet-arg, --snapshotter, ...).
//   - k3s-io/k3s pkg/cli/cmds/server.go, ServerFlags, for the hidden ones:
//     disable-agent (documented in docs/advanced.md "Running Agentless
//     Servers"), disable-apiserver, disable-controller-manager,
//     disable-etcd and the deprecated kube-controller-arg and
//     kube-cloud-controller-arg aliases.
//   - docs/cli/server.md tables for secrets-encryption-provider.
//
// --config is deliberately absent: it names the file and cannot be in it.
var knownServerFlags = map[string]flagKind{
	// logging
	"debug":           kindBool,
	"v":               kindString,
	"vmodule":         kindString,
	"log":             kindString,
	"alsologtostderr": kindBool,
	// listener
	"bind-address":      kindString,
	"https-listen-port": kindString,
	"advertise-address": kindString,
	"advertise-port":    kindString,
	"tls-san":           kindSlice,
	"tls-san-security":  kindBool,
	// data
	"data-dir": kindString,
	// networking
	"cluster-cidr":            kindSlice,
	"service-cidr":            kindSlice,
	"service-node-port-range": kindString,
	"cluster-dns":             kindSlice,
	"cluster-domain":          kindString,
	"flannel-backend":         kindString,
	"flannel-ipv6-masq":       kindBool,
	"flannel-external-ip":     kindBool,
	"egress-selector-mode":    kindString,
	"servicelb-namespace":     kindString,
	// client
	"write-kubeconfig":       kindString,
	"write-kubeconfig-mode":  kindString,
	"write-kubeconfig-group": kindString,
	// helm
	"helm-job-image": kindString,
	// cluster
	"token":                      kindString,
	"token-file":                 kindString,
	"agent-token":                kindString,
	"agent-token-file":           kindString,
	"server":                     kindString,
	"cluster-init":               kindBool,
	"cluster-reset":              kindBool,
	"cluster-reset-restore-path": kindString,
	// flags for the embedded components
	"kube-apiserver-arg":                kindSlice,
	"etcd-arg":                          kindSlice,
	"kube-controller-manager-arg":       kindSlice,
	"kube-scheduler-arg":                kindSlice,
	"kube-cloud-controller-manager-arg": kindSlice,
	// db
	"datastore-endpoint":          kindString,
	"datastore-cafile":            kindString,
	"datastore-certfile":          kindString,
	"datastore-keyfile":           kindString,
	"etcd-expose-metrics":         kindBool,
	"etcd-disable-snapshots":      kindBool,
	"etcd-snapshot-name":          kindString,
	"etcd-snapshot-schedule-cron": kindString,
	"etcd-snapshot-retention":     kindString,
	"etcd-snapshot-dir":           kindString,
	"etcd-snapshot-compress":      kindBool,
	"etcd-s3":                     kindBool,
	"etcd-s3-endpoint":            kindString,
	"etcd-s3-endpoint-ca":         kindString,
	"etcd-s3-skip-ssl-verify":     kindBool,
	"etcd-s3-access-key":          kindString,
	"etcd-s3-secret-key":          kindString,
	"etcd-s3-bucket":              kindString,
	"etcd-s3-region":              kindString,
	"etcd-s3-folder":              kindString,
	"etcd-s3-proxy":               kindString,
	"etcd-s3-config-secret":       kindString,
	"etcd-s3-insecure":            kindBool,
	"etcd-s3-timeout":             kindString,
	// storage
	"default-local-storage-path": kindString,
	// components
	"disable":                  kindSlice,
	"disable-scheduler":        kindBool,
	"disable-cloud-controller": kindBool,
	"disable-kube-proxy":       kindBool,
	"disable-network-policy":   kindBool,
	"disable-helm-controller":  kindBool,
	"embedded-registry":        kindBool,
	"supervisor-metrics":       kindBool,
	// agent/node
	"node-name":                         kindString,
	"with-node-id":                      kindBool,
	"node-label":                        kindSlice,
	"node-taint":                        kindSlice,
	"image-credential-provider-bin-dir": kindString,
	"image-credential-provider-config":  kindString,
	"protect-kernel-defaults":           kindBool,
	"selinux":                           kindBool,
	"lb-server-port":                    kindString,
	// agent/runtime
	"docker":                            kindBool,
	"container-runtime-endpoint":        kindString,
	"default-runtime":                   kindString,
	"image-service-endpoint":            kindString,
	"disable-default-registry-endpoint": kindBool,
	"nonroot-devices":                   kindBool,
	"pause-image":                       kindString,
	"snapshotter":                       kindString,
	"private-registry":                  kindString,
	"system-default-registry":           kindString,
	// agent/networking
	"node-ip":           kindSlice,
	"node-external-ip":  kindSlice,
	"node-internal-dns": kindSlice,
	"node-external-dns": kindSlice,
	"resolv-conf":       kindString,
	"flannel-iface":     kindString,
	"flannel-conf":      kindString,
	"flannel-cni-conf":  kindString,
	"vpn-auth":          kindString,
	"vpn-auth-file":     kindString,
	// agent/flags
	"kubelet-arg":    kindSlice,
	"kube-proxy-arg": kindSlice,
	// secrets
	"secrets-encryption":          kindBool,
	"secrets-encryption-provider": kindString,
	// experimental
	"enable-pprof":       kindBool,
	"rootless":           kindBool,
	"prefer-bundled-bin": kindBool,
	// hidden (pkg/cli/cmds/server.go)
	"disable-agent":              kindBool,
	"disable-apiserver":          kindBool,
	"disable-controller-manager": kindBool,
	"disable-etcd":               kindBool,
	"kube-controller-arg":        kindSlice,
	"kube-cloud-controller-arg":  kindSlice,
}

// componentArgFlag is the repeatable k3s flag that passes extra flags to
// each embedded Kubernetes component.
var componentArgFlag = map[string]string{
	"kubelet":                 "kubelet-arg",
	"kube-proxy":              "kube-proxy-arg",
	"kube-apiserver":          "kube-apiserver-arg",
	"kube-controller-manager": "kube-controller-manager-arg",
	"kube-scheduler":          "kube-scheduler-arg",
}

// rootlessEnv are the environment variables k3s --rootless reads and that
// have no flag (k3s-io/docs docs/advanced.md "Running Rootless Servers";
// k3s-io/k3s pkg/rootless/rootless.go). A Cluster setting with one of
// these names goes into the environment, not config.yaml.
var rootlessEnv = map[string]bool{
	"K3S_ROOTLESS_MTU":                   true,
	"K3S_ROOTLESS_CIDR":                  true,
	"K3S_ROOTLESS_ENABLE_IPV6":           true,
	"K3S_ROOTLESS_PORT_DRIVER":           true,
	"K3S_ROOTLESS_DISABLE_HOST_LOOPBACK": true,
	"K3S_ROOTLESS_COPYUPDIRS":            true,
}
