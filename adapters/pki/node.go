package pki

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// NodeBundle is the kubelet certificates of one more node of the cluster
// (a worker of `kprobe launch --nodes N`), issued by the bundle's CA:
//
//	kubelet-client.crt/.key    CN=system:node:<node>, O=system:nodes
//	kubelet-serving.crt/.key   kubelet serving, SANs the node name, localhost, 127.0.0.1 and the node IP
type NodeBundle struct {
	Dir      string
	NodeName string
	// CA is the cluster CA the certificates chain to.
	CA             Pair
	Kubelet        Pair
	KubeletServing Pair
	// Changes lists what this EnsureNode created or replaced.
	Changes []Change
}

// EnsureNode creates, or reuses when still right (the rules of Ensure),
// another node's kubelet client and serving certificates under dir,
// issued by b's CA. o.NodeName is the node's name and o.NodeIP its
// address; o.Validity applies as in Ensure, the other fields are unused.
// b is what Ensure returned: its CA is not renewed here.
func (b *Bundle) EnsureNode(dir string, o Options) (*NodeBundle, error) {
	o, _, _, err := o.normalize()
	if err != nil {
		return nil, err
	}
	caCert, caKey, reason, err := loadPair(b.CA)
	if err != nil {
		return nil, err
	}
	if reason == "" {
		reason = checkCA(nameCA, caCert, caKey, o.now(), 0)
	}
	if reason != "" {
		return nil, fmt.Errorf("pki: the cluster CA in %s is not usable (%s): Ensure first", b.Dir, reason)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	nb := &NodeBundle{Dir: dir, NodeName: o.NodeName, CA: b.CA,
		Kubelet: pairOf(dir, nameKubelet), KubeletServing: pairOf(dir, nameKubeletServing)}
	// The ensurer records changes into a Bundle; this one is only for that.
	rec := &Bundle{}
	e := &ensurer{b: rec, o: o, now: o.now()}
	ips := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	if o.NodeIP != nil {
		ips = append(ips, addrOf(o.NodeIP))
	}
	for _, s := range []leafSpec{
		{name: nameKubelet, pair: nb.Kubelet, cn: NodeUser(o.NodeName), org: []string{NodesGroup}, usage: x509.ExtKeyUsageClientAuth},
		{name: nameKubeletServing, pair: nb.KubeletServing, cn: NodeUser(o.NodeName), org: []string{NodesGroup}, usage: x509.ExtKeyUsageServerAuth,
			dns: sortedDNS([]string{o.NodeName, "localhost"}), ips: sortedAddrs(ips)},
	} {
		if err := e.ensureLeaf(caCert, caKey, s); err != nil {
			return nil, err
		}
	}
	nb.Changes = rec.Changes
	return nb, nil
}

// WriteKubeconfig writes the node's kubelet kubeconfig (see
// WriteKubeconfig) for server.
func (nb *NodeBundle) WriteKubeconfig(path, server string) error {
	return writeKubeconfigOf(path, server, nb.CA.Cert, nb.Kubelet, NodeUser(nb.NodeName))
}

// WriteKubeProxyKubeconfig writes a kube-proxy kubeconfig for server with
// the bundle's kube-proxy certificate (every node's kube-proxy is the same
// user): a worker reaches the API at another address than node 0.
func (b *Bundle) WriteKubeProxyKubeconfig(path, server string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return writeKubeconfigOf(path, server, b.CA.Cert, b.KubeProxy, KubeProxyUser)
}

func writeKubeconfigOf(path, server, caPath string, p Pair, user string) error {
	ca, err := os.ReadFile(caPath)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	cert, err := os.ReadFile(p.Cert)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	key, err := os.ReadFile(p.Key)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return WriteKubeconfig(path, server, string(ca), string(cert), string(key), user)
}
