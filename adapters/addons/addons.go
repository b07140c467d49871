// Package addons deploys what k3s ships inside its server and upstream
// Kubernetes leaves to the installer: CoreDNS as the cluster DNS (the
// Service kube-system/kube-dns at the kubelet's clusterDNS address) and
// local-path-provisioner behind the default StorageClass local-path,
// whose volumes live under the data dir.
//
// The manifests are k3s's, as Go templates embedded from manifests/;
// Render fills them in and Apply sends them with server-side apply, so a
// relaunch on the same data dir updates them in place. Their images are
// built from the components' Go modules by hack/addons (`make addons`)
// and imported into containerd by the launcher, as the pause and busybox
// images are: nothing is pulled.
package addons

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

//go:embed manifests/*.yaml
var manifestFS embed.FS

// Namespace every add-on runs in, as in k3s.
const Namespace = "kube-system"

// DefaultClusterDomain is the kubelet's clusterDomain.
const DefaultClusterDomain = "cluster.local"

// FieldManager owns the fields kprobe applies.
const FieldManager = "kprobe"

// StorageDir is where local-path-provisioner keeps volumes: inside the
// data dir, so `kprobe stop --purge` removes them.
func StorageDir(dataDir string) string { return filepath.Join(dataDir, "storage") }

// Config holds the values the manifests are rendered with.
type Config struct {
	// DataDir is the cluster's data dir; volumes go under StorageDir.
	DataDir string
	// ClusterDNS is the kube-dns Service IP: the kubelet's clusterDNS.
	ClusterDNS string
	// Domain is the kubelet's clusterDomain (DefaultClusterDomain).
	Domain string
	// NodeName and NodeIP go into CoreDNS's hosts file, as k3s's
	// NodeHosts, so pods resolve the node by name.
	NodeName, NodeIP string
	// Upstreams are the resolvers CoreDNS forwards other names to
	// (Resolvers finds the reachable ones); none means no forward.
	Upstreams []string
	// HealthPort and ReadyPort are CoreDNS's liveness and readiness
	// ports; 0: 8080 and 8181. Process pods share the sandbox's ports, so
	// TP moves them off ports that applications use.
	HealthPort, ReadyPort int
	// DNSPort is the port CoreDNS listens on (0: 53); the Service kube-dns
	// still answers on 53. TP moves it above 1024: a process pod in a
	// nested user namespace cannot bind a port below
	// net.ipv4.ip_unprivileged_port_start (podman-rootless), while the
	// node agent's Service proxy, which serves 53, can.
	DNSPort int
}

// Deployments are the add-ons' Deployments in Namespace, by manifest.
var Deployments = []string{"coredns", "local-path-provisioner"}

// manifests are rendered in this order: each file's objects in order, so
// RBAC and configuration exist before the pods that need them.
var manifests = []string{"coredns.yaml", "local-path.yaml"}

// Render fills the manifests in and decodes every object.
func Render(c Config) ([]*unstructured.Unstructured, error) {
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		return nil, fmt.Errorf("add-ons: data dir %q must be an absolute path", c.DataDir)
	}
	if c.ClusterDNS == "" || c.NodeName == "" || c.NodeIP == "" {
		return nil, fmt.Errorf("add-ons: the cluster DNS address, node name and node IP are required (got %q, %q, %q)", c.ClusterDNS, c.NodeName, c.NodeIP)
	}
	if c.Domain == "" {
		c.Domain = DefaultClusterDomain
	}
	if c.HealthPort == 0 {
		c.HealthPort = 8080
	}
	if c.ReadyPort == 0 {
		c.ReadyPort = 8181
	}
	if c.DNSPort == 0 {
		c.DNSPort = 53
	}
	values := struct {
		Config
		StorageDir                                string
		CoreDNSImage, LocalPathImage, HelperImage string
	}{c, StorageDir(c.DataDir), CoreDNSImageName, LocalPathImageName, HelperImageName}
	var objs []*unstructured.Unstructured
	for _, name := range manifests {
		text, err := manifestFS.ReadFile("manifests/" + name)
		if err != nil {
			return nil, err
		}
		t, err := template.New(name).Option("missingkey=error").
			Funcs(template.FuncMap{"join": strings.Join}).Parse(string(text))
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, values); err != nil {
			return nil, err
		}
		got, err := decode(name, buf.Bytes())
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

// decode splits a multi-document YAML stream into objects.
func decode(name string, data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(m) == 0 {
			continue // a comment-only document
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("%s: an object without kind or name", name)
		}
		if _, ok := resources[u.GroupVersionKind()]; !ok {
			return nil, fmt.Errorf("%s: %s %s: a kind Apply does not know", name, u.GetKind(), u.GetName())
		}
		objs = append(objs, u)
	}
}

// resources maps each kind the manifests use to its resource, so Apply
// needs no discovery round trips on a cluster that just started.
var resources = map[schema.GroupVersionKind]struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}{
	{Version: "v1", Kind: "ServiceAccount"}: {schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, true},
	{Version: "v1", Kind: "ConfigMap"}:      {schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, true},
	{Version: "v1", Kind: "Service"}:        {schema.GroupVersionResource{Version: "v1", Resource: "services"}, true},
	{Group: "apps", Version: "v1", Kind: "Deployment"}: {
		schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}: {
		schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, false},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}: {
		schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}, false},
	{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"}: {
		schema.GroupVersionResource{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses"}, false},
}

// Apply sends every object with server-side apply (field manager kprobe,
// forcing conflicts: these objects are kprobe's).
func Apply(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, u := range objs {
		res := resources[u.GroupVersionKind()]
		var ri dynamic.ResourceInterface = dyn.Resource(res.gvr)
		if res.namespaced {
			ri = dyn.Resource(res.gvr).Namespace(u.GetNamespace())
		}
		body, err := u.MarshalJSON()
		if err != nil {
			return err
		}
		if _, err := ri.Patch(ctx, u.GetName(), types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)}); err != nil {
			return fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// Available returns nil once every add-on Deployment has an available
// replica, else what it still waits for.
func Available(ctx context.Context, cs kubernetes.Interface) error {
	var waiting []string
	for _, name := range Deployments {
		d, err := cs.AppsV1().Deployments(Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas < 1 {
			waiting = append(waiting, name+" ("+why(d)+")")
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("add-ons not available yet: %s", strings.Join(waiting, ", "))
	}
	return nil
}

func why(d *appsv1.Deployment) string {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Message != "" {
			return c.Message
		}
	}
	return fmt.Sprintf("%d of %d replicas ready", d.Status.ReadyReplicas, d.Status.Replicas)
}

// Options of Deploy.
type Options struct {
	// Kubeconfig is an admin kubeconfig of the cluster.
	Kubeconfig string
	// ResolvConf is the kubelet's resolvConf; its reachable resolvers
	// become CoreDNS's upstreams.
	ResolvConf string
	// Wait, when positive, bounds a wait for every add-on to be
	// available; zero returns once the objects are applied.
	Wait time.Duration
}

// Deploy renders and applies the add-ons for c (c.Upstreams is filled
// from o.ResolvConf) and, with o.Wait, waits for them to be available.
func Deploy(ctx context.Context, c Config, o Options) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", o.Kubeconfig, err)
	}
	cfg.Timeout = 10 * time.Second
	cfg.QPS, cfg.Burst = 50, 100
	if o.ResolvConf != "" && c.Upstreams == nil {
		c.Upstreams = Resolvers(ctx, o.ResolvConf, time.Second)
	}
	objs, err := Render(c)
	if err != nil {
		return err
	}
	if err := Apply(ctx, cfg, objs); err != nil {
		return err
	}
	if o.Wait <= 0 {
		return nil
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	for {
		err := Available(wctx, cs)
		if err == nil {
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("gave up after %s: %w", o.Wait, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func ptr[T any](v T) *T { return &v }
