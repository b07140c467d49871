package pki

import (
	"crypto/tls"
	"crypto/x509"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// TestEnsureNodeIssuesFromTheClusterCA checks a worker's kubelet
// certificates: subject, usage, SANs, chain to the cluster CA; reuse;
// reissue when the address changes; the kubeconfigs.
func TestEnsureNodeIssuesFromTheClusterCA(t *testing.T) {
	dir := t.TempDir()
	b := ensure(t, filepath.Join(dir, "pki"), testOptions())
	nodeDir := filepath.Join(dir, "nodes", "1", "pki")
	o := Options{NodeName: "kprobe-node-1", NodeIP: net.ParseIP("10.246.0.2")}
	nb, err := b.EnsureNode(nodeDir, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := changeNames(&Bundle{Changes: nb.Changes}); !slices.Equal(got, []string{"kubelet-client", "kubelet-serving"}) {
		t.Errorf("changes %v", got)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, b.CA.Cert))
	for _, c := range []struct {
		pair  Pair
		usage x509.ExtKeyUsage
	}{{nb.Kubelet, x509.ExtKeyUsageClientAuth}, {nb.KubeletServing, x509.ExtKeyUsageServerAuth}} {
		cert := readCert(t, c.pair.Cert)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			t.Errorf("%s: %v", c.pair.Cert, err)
		}
		if cert.Subject.CommonName != "system:node:kprobe-node-1" || !slices.Equal(cert.Subject.Organization, []string{NodesGroup}) {
			t.Errorf("%s: subject %v", c.pair.Cert, cert.Subject)
		}
		if _, err := tls.LoadX509KeyPair(c.pair.Cert, c.pair.Key); err != nil {
			t.Errorf("%s: %v", c.pair.Key, err)
		}
	}
	serving := readCert(t, nb.KubeletServing.Cert)
	if got := ipStrings(serving.IPAddresses); !slices.Equal(got, []string{"10.246.0.2", "127.0.0.1"}) {
		t.Errorf("serving IP SANs %v", got)
	}
	if !slices.Equal(sorted(serving.DNSNames...), []string{"kprobe-node-1", "localhost"}) {
		t.Errorf("serving DNS SANs %v", serving.DNSNames)
	}
	// Node 0's files are untouched.
	if _, err := os.Stat(filepath.Join(nodeDir, "ca.key")); err == nil {
		t.Error("the CA key was copied into the node's directory")
	}

	before := snapshot(t, nodeDir)
	again, err := b.EnsureNode(nodeDir, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changes) != 0 || len(changed(before, snapshot(t, nodeDir))) != 0 {
		t.Errorf("a second EnsureNode rewrote %v", again.Changes)
	}
	o.NodeIP = net.ParseIP("10.246.0.9")
	moved, err := b.EnsureNode(nodeDir, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := changeNames(&Bundle{Changes: moved.Changes}); !slices.Equal(got, []string{"kubelet-serving"}) {
		t.Errorf("a new address reissued %v, want the serving certificate only", got)
	}

	kc := filepath.Join(dir, "nodes", "1", "kubelet.conf")
	if err := moved.WriteKubeconfig(kc, "https://10.246.0.1:6443"); err != nil {
		t.Fatal(err)
	}
	proxy := filepath.Join(dir, "nodes", "1", "kube-proxy.conf")
	if err := b.WriteKubeProxyKubeconfig(proxy, "https://10.246.0.1:6443"); err != nil {
		t.Fatal(err)
	}
	for path, user := range map[string]string{kc: "system:node:kprobe-node-1", proxy: KubeProxyUser} {
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if c := cfg.Clusters[ClusterName]; c == nil || c.Server != "https://10.246.0.1:6443" || cfg.AuthInfos[user] == nil {
			t.Errorf("%s: cluster %+v, users %v", path, c, slices.Collect(maps.Keys(cfg.AuthInfos)))
		}
	}
}

func TestEnsureNodeNeedsTheCA(t *testing.T) {
	dir := t.TempDir()
	b := ensure(t, dir, testOptions())
	if err := os.Remove(b.CA.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureNode(filepath.Join(dir, "node"), Options{NodeName: "kprobe-node-1"}); err == nil {
		t.Error("EnsureNode issued certificates without the CA key")
	}
	if _, err := ensure(t, t.TempDir(), testOptions()).EnsureNode(t.TempDir(), Options{NodeName: "Not_A_Name"}); err == nil {
		t.Error("a bad node name was accepted")
	}
}
