package pki

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ClusterName is the cluster (and context suffix) name in every kubeconfig.
const ClusterName = "kprobe"

// Kubeconfig file names written by Bundle.WriteKubeconfigs.
const (
	AdminConf             = "admin.conf"
	ControllerManagerConf = "controller-manager.conf"
	SchedulerConf         = "scheduler.conf"
	KubeletConf           = "kubelet.conf"
	KubeProxyConf         = "kube-proxy.conf"
)

// Kubeconfigs is the paths written by Bundle.WriteKubeconfigs.
type Kubeconfigs struct {
	Admin             string // kubectl --kubeconfig
	ControllerManager string // kube-controller-manager --kubeconfig (and --authentication/--authorization-kubeconfig)
	Scheduler         string // kube-scheduler --kubeconfig (and --authentication/--authorization-kubeconfig)
	Kubelet           string // kubelet --kubeconfig
	KubeProxy         string // kube-proxy clientConnection.kubeconfig
}

// RenderKubeconfig returns a kubeconfig (YAML) with one cluster, one user
// and one context, all certificate material embedded (*-data fields).
// server must be an https URL; the PEM arguments must hold PEM blocks.
func RenderKubeconfig(server, caPEM, certPEM, keyPEM, user string) ([]byte, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("pki: kubeconfig server %q is not an https URL", server)
	}
	if user == "" {
		return nil, errors.New("pki: kubeconfig user is empty")
	}
	for _, f := range []struct{ name, data string }{{"CA", caPEM}, {"certificate", certPEM}, {"key", keyPEM}} {
		if b, _ := pem.Decode([]byte(f.data)); b == nil {
			return nil, fmt.Errorf("pki: kubeconfig for %q: %s is not PEM", user, f.name)
		}
	}
	context := user + "@" + ClusterName
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[ClusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: []byte(caPEM)}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte(certPEM), ClientKeyData: []byte(keyPEM)}
	cfg.Contexts[context] = &clientcmdapi.Context{Cluster: ClusterName, AuthInfo: user}
	cfg.CurrentContext = context
	return clientcmd.Write(*cfg)
}

// WriteKubeconfig renders a kubeconfig (see RenderKubeconfig) and writes it
// to path atomically, mode 0600. An identical existing file is left alone.
func WriteKubeconfig(path, server, caPEM, certPEM, keyPEM, user string) error {
	data, err := RenderKubeconfig(server, caPEM, certPEM, keyPEM, user)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		return fixMode(path, modeKey)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pki: %w", err)
	}
	return writeAtomic(path, data, modeKey)
}

// WriteKubeconfigs writes admin.conf, controller-manager.conf,
// scheduler.conf, kubelet.conf and kube-proxy.conf into dir (the bundle
// directory when dir is ""), each pointing at server, e.g.
// https://127.0.0.1:6443. Files already up to date are not rewritten.
func (b *Bundle) WriteKubeconfigs(dir, server string) (*Kubeconfigs, error) {
	if b.NodeName == "" {
		return nil, errors.New("pki: bundle has no NodeName (use the Bundle returned by Ensure)")
	}
	if dir == "" {
		dir = b.Dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	ca, err := os.ReadFile(b.CA.Cert)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	k := &Kubeconfigs{
		Admin:             filepath.Join(dir, AdminConf),
		ControllerManager: filepath.Join(dir, ControllerManagerConf),
		Scheduler:         filepath.Join(dir, SchedulerConf),
		Kubelet:           filepath.Join(dir, KubeletConf),
		KubeProxy:         filepath.Join(dir, KubeProxyConf),
	}
	for _, c := range []struct {
		path string
		pair Pair
		user string
	}{
		{k.Admin, b.Admin, AdminUser},
		{k.ControllerManager, b.ControllerManager, ControllerManagerUser},
		{k.Scheduler, b.Scheduler, SchedulerUser},
		{k.Kubelet, b.Kubelet, NodeUser(b.NodeName)},
		{k.KubeProxy, b.KubeProxy, KubeProxyUser},
	} {
		cert, err := os.ReadFile(c.pair.Cert)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		key, err := os.ReadFile(c.pair.Key)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		if err := WriteKubeconfig(c.path, server, string(ca), string(cert), string(key), c.user); err != nil {
			return nil, err
		}
	}
	return k, nil
}
