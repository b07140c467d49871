package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Defaults for the zero values of Options.
const (
	DefaultServiceCIDR   = "10.96.0.0/12"
	DefaultClusterDomain = "cluster.local"
	DefaultValidity      = 365 * 24 * time.Hour
	DefaultCAValidity    = 10 * 365 * 24 * time.Hour
	// RenewBefore is the renewal window: a certificate expiring sooner than
	// this is replaced (see the package documentation for short validities).
	RenewBefore = 30 * 24 * time.Hour
)

// KeyType names a key algorithm for the service-account key pair.
type KeyType string

// Service-account key types. The zero value means KeyECDSAP256.
const (
	KeyECDSAP256 KeyType = "ecdsa-p256" // ES256 tokens
	KeyRSA2048   KeyType = "rsa-2048"   // RS256 tokens, for token consumers that only know RSA
)

// ErrInvalidOptions wraps every error caused by bad Options (bad input, as
// opposed to an I/O failure).
var ErrInvalidOptions = errors.New("pki: invalid options")

// Options says what the certificates must contain.
type Options struct {
	// NodeName is the node's name (kubelet --hostname-override); required,
	// a lowercase DNS subdomain.
	NodeName string
	// NodeIP is the node's address; it goes into the apiserver and kubelet
	// serving certificates. Optional.
	NodeIP net.IP
	// ServiceCIDR is the service cluster IP range, comma-separated for dual
	// stack; the first address of each range is an apiserver SAN.
	// Default DefaultServiceCIDR (so 10.96.0.1).
	ServiceCIDR string
	// ExtraSANs are additional apiserver SANs: IP addresses or DNS names
	// (a leading "*." wildcard is allowed).
	ExtraSANs []string
	// Validity of the leaf certificates; default DefaultValidity.
	Validity time.Duration
	// CAValidity of a newly created CA; default DefaultCAValidity.
	CAValidity time.Duration
	// ClusterDomain for the kubernetes.default.svc.<domain> SAN; default
	// DefaultClusterDomain.
	ClusterDomain string
	// ServiceAccountKeyType of sa.key; default KeyECDSAP256.
	ServiceAccountKeyType KeyType

	now func() time.Time // tests move the clock
}

// Pair is the paths of a certificate and its private key.
type Pair struct {
	Cert string
	Key  string
}

// Change records what Ensure created or replaced, and why.
type Change struct {
	// Name is a pair name ("ca", "apiserver", "admin", ...: both .crt and
	// .key were written) or "sa.key" / "sa.pub".
	Name string
	// Reason is "missing" for a first creation, otherwise what was wrong,
	// e.g. "admin.key: no PEM block" or "apiserver.crt: IP SANs [...], want [...]".
	Reason string
}

func (c Change) String() string { return c.Name + ": " + c.Reason }

// Bundle is the set of PKI files under Dir, as paths for component flags.
type Bundle struct {
	Dir      string
	NodeName string

	CA                     Pair // --client-ca-file, --root-ca-file, --kubelet-certificate-authority
	APIServer              Pair // kube-apiserver --tls-cert-file / --tls-private-key-file
	APIServerKubeletClient Pair // kube-apiserver --kubelet-client-certificate / --kubelet-client-key
	Admin                  Pair // kubectl (admin.conf)
	ControllerManager      Pair // controller-manager.conf
	Scheduler              Pair // scheduler.conf
	Kubelet                Pair // kubelet's client certificate (kubelet.conf)
	KubeProxy              Pair // kube-proxy.conf
	KubeletServing         Pair // kubelet --tls-cert-file / --tls-private-key-file

	// EtcdCA is etcd's own CA (etcd-ca.crt), apart from the cluster CA:
	// the controller-manager signs approved CSRs with the cluster CA, and
	// such a certificate must not open etcd. etcd --trusted-ca-file and
	// --peer-trusted-ca-file, kube-apiserver --etcd-cafile.
	EtcdCA Pair
	// EtcdServer is etcd's client-port serving certificate, serverAuth
	// and clientAuth (--cert-file / --key-file).
	EtcdServer Pair
	// EtcdPeer is etcd's peer certificate, serverAuth and clientAuth
	// (--peer-cert-file / --peer-key-file).
	EtcdPeer Pair
	// APIServerEtcdClient is kube-apiserver's etcd client certificate
	// (--etcd-certfile / --etcd-keyfile).
	APIServerEtcdClient Pair

	// ServiceAccountKey is sa.key: kube-apiserver
	// --service-account-signing-key-file and kube-controller-manager
	// --service-account-private-key-file.
	ServiceAccountKey string
	// ServiceAccountPub is sa.pub: kube-apiserver --service-account-key-file.
	ServiceAccountPub string

	// Changes lists what this Ensure created or replaced; empty when every
	// file was reused.
	Changes []Change
}

// Names of the certificate/key pairs under the bundle directory (without
// the .crt/.key extension).
const (
	nameCA                     = "ca"
	nameAPIServer              = "apiserver"
	nameAPIServerKubeletClient = "apiserver-kubelet-client"
	nameAdmin                  = "admin"
	nameControllerManager      = "kube-controller-manager"
	nameScheduler              = "kube-scheduler"
	nameKubelet                = "kubelet-client"
	nameKubeProxy              = "kube-proxy"
	nameKubeletServing         = "kubelet-serving"
	nameEtcdCA                 = "etcd-ca"
	nameEtcdServer             = "etcd-server"
	nameEtcdPeer               = "etcd-peer"
	nameAPIServerEtcdClient    = "apiserver-etcd-client"
	fileSAKey                  = "sa.key"
	fileSAPub                  = "sa.pub"
)

// Subjects of the client certificates.
const (
	AdminUser                  = "kubernetes-admin"
	ControllerManagerUser      = "system:kube-controller-manager"
	SchedulerUser              = "system:kube-scheduler"
	KubeProxyUser              = "system:kube-proxy"
	APIServerKubeletClientUser = "kube-apiserver-kubelet-client"
	APIServerEtcdClientUser    = "kube-apiserver-etcd-client"
	EtcdUser                   = "kprobe-etcd"
	MastersGroup               = "system:masters"
	NodesGroup                 = "system:nodes"
)

// NodeUser is the kubelet's user name for node name.
func NodeUser(node string) string { return "system:node:" + node }

func pairOf(dir, name string) Pair {
	return Pair{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
}

// leafSpec is what one leaf certificate must contain.
type leafSpec struct {
	name  string
	pair  Pair
	cn    string
	org   []string
	usage x509.ExtKeyUsage
	// etcd says the leaf is issued by the etcd CA, not the cluster CA.
	etcd bool
	// both adds clientAuth to a serverAuth usage: an etcd peer both
	// serves and dials, and etcd's JSON gateway dials etcd's own gRPC
	// port with the serving certificate (as kubeadm's etcd certificates).
	both bool
	dns  []string     // sorted, lowercase
	ips  []netip.Addr // sorted, unmapped
}

// caFile names the certificate's CA file, for messages.
func (s leafSpec) caFile() string {
	if s.etcd {
		return nameEtcdCA + ".crt"
	}
	return nameCA + ".crt"
}

// usages are the certificate's extended key usages.
func (s leafSpec) usages() []x509.ExtKeyUsage {
	if s.both {
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	return []x509.ExtKeyUsage{s.usage}
}

// Ensure creates, or reuses when still right, the cluster PKI under dir
// (created 0755 when missing). See the package documentation for the file
// layout and the reuse and replacement rules.
func Ensure(dir string, o Options) (*Bundle, error) {
	o, apiDNS, apiIPs, err := o.normalize()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	b := &Bundle{
		Dir:                    dir,
		NodeName:               o.NodeName,
		CA:                     pairOf(dir, nameCA),
		APIServer:              pairOf(dir, nameAPIServer),
		APIServerKubeletClient: pairOf(dir, nameAPIServerKubeletClient),
		Admin:                  pairOf(dir, nameAdmin),
		ControllerManager:      pairOf(dir, nameControllerManager),
		Scheduler:              pairOf(dir, nameScheduler),
		Kubelet:                pairOf(dir, nameKubelet),
		KubeProxy:              pairOf(dir, nameKubeProxy),
		KubeletServing:         pairOf(dir, nameKubeletServing),
		EtcdCA:                 pairOf(dir, nameEtcdCA),
		EtcdServer:             pairOf(dir, nameEtcdServer),
		EtcdPeer:               pairOf(dir, nameEtcdPeer),
		APIServerEtcdClient:    pairOf(dir, nameAPIServerEtcdClient),
		ServiceAccountKey:      filepath.Join(dir, fileSAKey),
		ServiceAccountPub:      filepath.Join(dir, fileSAPub),
	}
	e := &ensurer{b: b, o: o, now: o.now()}

	ca, caKey, err := e.ensureCA(nameCA, b.CA, caCommonName)
	if err != nil {
		return nil, err
	}
	etcdCA, etcdCAKey, err := e.ensureCA(nameEtcdCA, b.EtcdCA, etcdCACommonName)
	if err != nil {
		return nil, err
	}
	kubeletIPs := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	if o.NodeIP != nil {
		kubeletIPs = append(kubeletIPs, addrOf(o.NodeIP))
	}
	server, client := x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth
	leaves := []leafSpec{
		{name: nameAPIServer, pair: b.APIServer, cn: "kube-apiserver", usage: server, dns: apiDNS, ips: apiIPs},
		{name: nameAPIServerKubeletClient, pair: b.APIServerKubeletClient, cn: APIServerKubeletClientUser, org: []string{MastersGroup}, usage: client},
		{name: nameAdmin, pair: b.Admin, cn: AdminUser, org: []string{MastersGroup}, usage: client},
		{name: nameControllerManager, pair: b.ControllerManager, cn: ControllerManagerUser, usage: client},
		{name: nameScheduler, pair: b.Scheduler, cn: SchedulerUser, usage: client},
		{name: nameKubelet, pair: b.Kubelet, cn: NodeUser(o.NodeName), org: []string{NodesGroup}, usage: client},
		{name: nameKubeProxy, pair: b.KubeProxy, cn: KubeProxyUser, usage: client},
		{name: nameKubeletServing, pair: b.KubeletServing, cn: NodeUser(o.NodeName), org: []string{NodesGroup}, usage: server,
			dns: sortedDNS([]string{o.NodeName, "localhost"}), ips: sortedAddrs(kubeletIPs)},
	}
	for _, s := range leaves {
		if err := e.ensureLeaf(ca, caKey, s); err != nil {
			return nil, err
		}
	}
	// etcd listens on loopback only (adapters/upstream).
	etcdDNS := sortedDNS([]string{"localhost"})
	etcdIPs := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	for _, s := range []leafSpec{
		{name: nameEtcdServer, pair: b.EtcdServer, cn: EtcdUser, usage: server, etcd: true, both: true, dns: etcdDNS, ips: etcdIPs},
		{name: nameEtcdPeer, pair: b.EtcdPeer, cn: EtcdUser, usage: server, etcd: true, both: true, dns: etcdDNS, ips: etcdIPs},
		{name: nameAPIServerEtcdClient, pair: b.APIServerEtcdClient, cn: APIServerEtcdClientUser, usage: client, etcd: true},
	} {
		if err := e.ensureLeaf(etcdCA, etcdCAKey, s); err != nil {
			return nil, err
		}
	}
	if err := e.ensureServiceAccount(); err != nil {
		return nil, err
	}
	return b, nil
}

// normalize validates o, fills defaults and computes the apiserver SANs.
func (o Options) normalize() (Options, []string, []netip.Addr, error) {
	bad := func(format string, args ...any) (Options, []string, []netip.Addr, error) {
		return o, nil, nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
	}
	if o.NodeName == "" {
		return bad("NodeName is required")
	}
	if !validDNSName(o.NodeName, false) {
		return bad("NodeName %q is not a lowercase DNS subdomain", o.NodeName)
	}
	if o.NodeIP != nil && o.NodeIP.To16() == nil {
		return bad("NodeIP %v is not an IP address", o.NodeIP)
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = DefaultServiceCIDR
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = DefaultClusterDomain
	}
	if !validDNSName(o.ClusterDomain, false) {
		return bad("ClusterDomain %q is not a DNS name", o.ClusterDomain)
	}
	switch {
	case o.Validity < 0:
		return bad("Validity %v is negative", o.Validity)
	case o.Validity == 0:
		o.Validity = DefaultValidity
	}
	switch {
	case o.CAValidity < 0:
		return bad("CAValidity %v is negative", o.CAValidity)
	case o.CAValidity == 0:
		o.CAValidity = DefaultCAValidity
	}
	switch o.ServiceAccountKeyType {
	case "":
		o.ServiceAccountKeyType = KeyECDSAP256
	case KeyECDSAP256, KeyRSA2048:
	default:
		return bad("ServiceAccountKeyType %q (want %q or %q)", o.ServiceAccountKeyType, KeyECDSAP256, KeyRSA2048)
	}
	if o.now == nil {
		o.now = time.Now
	}

	dns := []string{
		"kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc." + o.ClusterDomain, "localhost", o.NodeName,
	}
	ips := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	for _, c := range strings.Split(o.ServiceCIDR, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return bad("ServiceCIDR %q: %v", o.ServiceCIDR, err)
		}
		first := p.Masked().Addr().Next()
		if !first.IsValid() || !p.Contains(first) {
			return bad("ServiceCIDR %q: range %v has no first address", o.ServiceCIDR, p)
		}
		ips = append(ips, first)
	}
	if o.NodeIP != nil {
		ips = append(ips, addrOf(o.NodeIP))
	}
	for _, s := range o.ExtraSANs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			if a.Zone() != "" {
				return bad("extra SAN %q: IP zones are not allowed", s)
			}
			ips = append(ips, a.Unmap())
			continue
		}
		if !validDNSName(strings.ToLower(s), true) {
			return bad("extra SAN %q is neither an IP address nor a DNS name", s)
		}
		dns = append(dns, s)
	}
	return o, sortedDNS(dns), sortedAddrs(ips), nil
}

// validDNSName reports whether s is a lowercase DNS subdomain (RFC 1123
// labels, at most 253 characters); wildcard allows a leading "*." label.
func validDNSName(s string, wildcard bool) bool {
	if wildcard {
		s = strings.TrimPrefix(s, "*.")
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func sortedDNS(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.ToLower(n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedAddrs(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.Unmap())
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return slices.Compact(out)
}

// renewWindow is how long before expiry a certificate of the given validity
// is replaced.
func renewWindow(validity time.Duration) time.Duration {
	if validity < 2*RenewBefore {
		return validity / 2
	}
	return RenewBefore
}

// ensurer carries the state of one Ensure call.
type ensurer struct {
	b   *Bundle
	o   Options
	now time.Time
}

func (e *ensurer) record(name, reason string) {
	e.b.Changes = append(e.b.Changes, Change{Name: name, Reason: reason})
}

// ensureCA returns a CA certificate and key, reusing p when right and
// replacing both files otherwise.
func (e *ensurer) ensureCA(name string, p Pair, cn string) (*x509.Certificate, crypto.Signer, error) {
	cert, key, reason, err := loadPair(p)
	if err != nil {
		return nil, nil, err
	}
	if reason == "" {
		// The CA is renewed no later than a leaf would be, so that a leaf
		// clamped to the CA's expiry is never itself due for renewal.
		window := max(renewWindow(e.o.CAValidity), renewWindow(e.o.Validity))
		reason = checkCA(name, cert, key, e.now, window)
	}
	if reason == "" {
		return cert, key, fixModes(p)
	}
	e.record(name, reason)
	cert, key, err = e.issueCA(p, cn)
	return cert, key, err
}

func (e *ensurer) ensureLeaf(ca *x509.Certificate, caKey crypto.Signer, s leafSpec) error {
	cert, key, reason, err := loadPair(s.pair)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = checkLeaf(cert, key, ca, s, e.now, renewWindow(e.o.Validity))
	}
	if reason == "" {
		return fixModes(s.pair)
	}
	e.record(s.name, reason)
	return e.issueLeaf(ca, caKey, s)
}

func (e *ensurer) ensureServiceAccount() error {
	keyPath, pubPath := e.b.ServiceAccountKey, e.b.ServiceAccountPub
	key, reason, err := loadKey(keyPath)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = checkKeyType(key, e.o.ServiceAccountKeyType)
	}
	if reason != "" {
		e.record(fileSAKey, reason)
		var keyPEM []byte
		if key, keyPEM, err = newKey(e.o.ServiceAccountKeyType); err != nil {
			return err
		}
		if err := writeAtomic(keyPath, keyPEM, modeKey); err != nil {
			return err
		}
	} else if err := fixMode(keyPath, modeKey); err != nil {
		return err
	}

	// sa.pub is derived from sa.key: rewrite it when it does not match,
	// without touching the private key (issued tokens stay valid).
	pub, reason, err := loadPublicKey(pubPath)
	if err != nil {
		return err
	}
	if reason == "" && !publicKeysEqual(pub, key.Public()) {
		reason = "does not match " + fileSAKey
	}
	if reason == "" {
		return fixMode(pubPath, modeCert)
	}
	e.record(fileSAPub, reason)
	pubPEM, err := encodePublicKey(key.Public())
	if err != nil {
		return err
	}
	return writeAtomic(pubPath, pubPEM, modeCert)
}
