package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNodeIP = net.ParseIP("192.0.2.2")

func testOptions() Options {
	return Options{NodeName: "kprobe-node", NodeIP: testNodeIP}
}

func ensure(t testing.TB, dir string, o Options) *Bundle {
	t.Helper()
	b, err := Ensure(dir, o)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return b
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCertPEM(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

// allFiles is every file Ensure writes, by base name.
var allFiles = []string{
	"ca.crt", "ca.key",
	"apiserver.crt", "apiserver.key",
	"apiserver-kubelet-client.crt", "apiserver-kubelet-client.key",
	"admin.crt", "admin.key",
	"kube-controller-manager.crt", "kube-controller-manager.key",
	"kube-scheduler.crt", "kube-scheduler.key",
	"kubelet-client.crt", "kubelet-client.key",
	"kube-proxy.crt", "kube-proxy.key",
	"kubelet-serving.crt", "kubelet-serving.key",
	"etcd-ca.crt", "etcd-ca.key",
	"etcd-server.crt", "etcd-server.key",
	"etcd-peer.crt", "etcd-peer.key",
	"apiserver-etcd-client.crt", "apiserver-etcd-client.key",
	"sa.key", "sa.pub",
}

// pairs returns the bundle's certificate/key pairs by name.
func pairs(b *Bundle) map[string]Pair {
	return map[string]Pair{
		"ca": b.CA, "apiserver": b.APIServer, "apiserver-kubelet-client": b.APIServerKubeletClient,
		"admin": b.Admin, "kube-controller-manager": b.ControllerManager, "kube-scheduler": b.Scheduler,
		"kubelet-client": b.Kubelet, "kube-proxy": b.KubeProxy, "kubelet-serving": b.KubeletServing,
		"etcd-ca": b.EtcdCA, "etcd-server": b.EtcdServer, "etcd-peer": b.EtcdPeer, "apiserver-etcd-client": b.APIServerEtcdClient,
	}
}

type fileState struct {
	data  string
	mtime time.Time
}

var oldTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// age sets every file's mtime to oldTime, so a rewrite is visible whatever
// the filesystem's timestamp granularity.
func age(t testing.TB, dir string) {
	t.Helper()
	for _, f := range allFiles {
		if err := os.Chtimes(filepath.Join(dir, f), oldTime, oldTime); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

func snapshot(t testing.TB, dir string) map[string]fileState {
	t.Helper()
	s := map[string]fileState{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		s[e.Name()] = fileState{string(data), fi.ModTime()}
	}
	return s
}

// changed lists files whose content or mtime differ (or that appeared or
// vanished) between two snapshots.
func changed(before, after map[string]fileState) []string {
	var out []string
	for name, a := range after {
		if b, ok := before[name]; !ok || b.data != a.data || !b.mtime.Equal(a.mtime) {
			out = append(out, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func changeNames(b *Bundle) []string {
	var out []string
	for _, c := range b.Changes {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out
}

func pairFiles(names ...string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "sa.") {
			out = append(out, n)
			continue
		}
		out = append(out, n+".crt", n+".key")
	}
	slices.Sort(out)
	return out
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestEnsureCreatesVerifiableChains(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := time.Now()
	b := ensure(t, dir, testOptions())

	// Every file, with its mode, and nothing else (no temp files left).
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if strings.HasSuffix(e.Name(), ".key") {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", e.Name(), fi.Mode().Perm(), want)
		}
	}
	if !slices.Equal(names, sorted(allFiles...)) {
		t.Errorf("files %v, want %v", names, sorted(allFiles...))
	}
	if len(b.Changes) != 15 {
		t.Errorf("Changes %v, want 13 pairs and sa.key, sa.pub", b.Changes)
	}
	for _, c := range b.Changes {
		if c.Reason != "missing" {
			t.Errorf("change %v, want reason missing", c)
		}
	}

	ca := readCert(t, b.CA.Cert)
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 || ca.Subject.CommonName != caCommonName {
		t.Errorf("CA: IsCA=%v BasicConstraintsValid=%v KeyUsage=%v CN=%q", ca.IsCA, ca.BasicConstraintsValid, ca.KeyUsage, ca.Subject.CommonName)
	}
	if got := ca.NotAfter.Sub(start); got < DefaultCAValidity-time.Minute || got > DefaultCAValidity+time.Minute {
		t.Errorf("CA validity %v, want %v", got, DefaultCAValidity)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	server, client := x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth
	apiDNS := sorted("kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", "localhost", "kprobe-node")
	tests := []struct {
		pair  Pair
		cn    string
		org   []string
		usage x509.ExtKeyUsage
		dns   []string
		ips   []string
	}{
		{b.APIServer, "kube-apiserver", nil, server, apiDNS, sorted("127.0.0.1", "10.96.0.1", "192.0.2.2")},
		{b.APIServerKubeletClient, "kube-apiserver-kubelet-client", []string{"system:masters"}, client, nil, nil},
		{b.Admin, "kubernetes-admin", []string{"system:masters"}, client, nil, nil},
		{b.ControllerManager, "system:kube-controller-manager", nil, client, nil, nil},
		{b.Scheduler, "system:kube-scheduler", nil, client, nil, nil},
		{b.Kubelet, "system:node:kprobe-node", []string{"system:nodes"}, client, nil, nil},
		{b.KubeProxy, "system:kube-proxy", nil, client, nil, nil},
		{b.KubeletServing, "system:node:kprobe-node", []string{"system:nodes"}, server,
			sorted("kprobe-node", "localhost"), sorted("127.0.0.1", "192.0.2.2")},
	}
	for _, tt := range tests {
		name := filepath.Base(tt.pair.Cert)
		c := readCert(t, tt.pair.Cert)
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
			t.Errorf("%s: verify for %s: %v", name, usageName(tt.usage), err)
		}
		other := server
		if tt.usage == server {
			other = client
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{other}}); err == nil {
			t.Errorf("%s: verifies for %s too, want only %s", name, usageName(other), usageName(tt.usage))
		}
		if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{tt.usage}) {
			t.Errorf("%s: ExtKeyUsage %v", name, c.ExtKeyUsage)
		}
		if c.IsCA {
			t.Errorf("%s: is a CA", name)
		}
		if c.Subject.CommonName != tt.cn || !slices.Equal(c.Subject.Organization, tt.org) {
			t.Errorf("%s: subject CN=%q O=%q, want CN=%q O=%q", name, c.Subject.CommonName, c.Subject.Organization, tt.cn, tt.org)
		}
		if got := sorted(c.DNSNames...); !slices.Equal(got, tt.dns) {
			t.Errorf("%s: DNS SANs %v, want %v", name, got, tt.dns)
		}
		if got := ipStrings(c.IPAddresses); !slices.Equal(got, tt.ips) {
			t.Errorf("%s: IP SANs %v, want %v", name, got, tt.ips)
		}
		if got := c.NotAfter.Sub(start); got < DefaultValidity-time.Minute || got > DefaultValidity+time.Minute {
			t.Errorf("%s: validity %v, want %v", name, got, DefaultValidity)
		}
		if c.NotBefore.After(start) {
			t.Errorf("%s: NotBefore %v after creation %v", name, c.NotBefore, start)
		}
		key, reason, err := loadKey(tt.pair.Key)
		if err != nil || reason != "" {
			t.Fatalf("%s: %v %s", tt.pair.Key, err, reason)
		}
		if k, ok := key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
			t.Errorf("%s: key %T, want ECDSA P-256", tt.pair.Key, key)
		}
		if !publicKeysEqual(c.PublicKey, key.Public()) {
			t.Errorf("%s: key does not match", name)
		}
	}

	// The service-account pair: an ECDSA P-256 key whose signature sa.pub verifies.
	key, reason, err := loadKey(b.ServiceAccountKey)
	if err != nil || reason != "" {
		t.Fatalf("sa.key: %v %s", err, reason)
	}
	pub, reason, err := loadPublicKey(b.ServiceAccountPub)
	if err != nil || reason != "" {
		t.Fatalf("sa.pub: %v %s", err, reason)
	}
	digest := sha256.Sum256([]byte("token"))
	sig, err := key.Sign(rand.Reader, digest[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	if ep, ok := pub.(*ecdsa.PublicKey); !ok || ep.Curve != elliptic.P256() || !ecdsa.VerifyASN1(ep, digest[:], sig) {
		t.Errorf("sa.pub (%T) does not verify a signature by sa.key", pub)
	}
}

func TestEnsureReusesUntouched(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ensure(t, dir, testOptions())
	age(t, dir)
	before := snapshot(t, dir)
	b := ensure(t, dir, testOptions())
	if len(b.Changes) != 0 {
		t.Errorf("second Ensure changed %v", b.Changes)
	}
	if c := changed(before, snapshot(t, dir)); len(c) != 0 {
		t.Errorf("second Ensure touched %v", c)
	}
	// Equivalent spellings of the same options reuse too.
	o := testOptions()
	o.NodeIP = testNodeIP.To16()
	o.ServiceCIDR = "10.96.0.0/12"
	o.Validity = DefaultValidity
	o.ExtraSANs = []string{"", "localhost", "127.0.0.1"}
	if b := ensure(t, dir, o); len(b.Changes) != 0 {
		t.Errorf("equivalent options changed %v", b.Changes)
	}
}

func TestEnsureRegeneratesOnOptionChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Options)
		want   []string // pairs (and sa files) rewritten
	}{
		{"extra SAN", func(o *Options) { o.ExtraSANs = []string{"api.example.com"} }, []string{"apiserver"}},
		{"extra IP SAN", func(o *Options) { o.ExtraSANs = []string{"203.0.113.7"} }, []string{"apiserver"}},
		{"service CIDR", func(o *Options) { o.ServiceCIDR = "10.43.0.0/16" }, []string{"apiserver"}},
		{"cluster domain", func(o *Options) { o.ClusterDomain = "kprobe.local" }, []string{"apiserver"}},
		{"node IP", func(o *Options) { o.NodeIP = net.ParseIP("192.0.2.3") }, []string{"apiserver", "kubelet-serving"}},
		{"no node IP", func(o *Options) { o.NodeIP = nil }, []string{"apiserver", "kubelet-serving"}},
		{"node name", func(o *Options) { o.NodeName = "other-node" }, []string{"apiserver", "kubelet-client", "kubelet-serving"}},
		{"sa key type", func(o *Options) { o.ServiceAccountKeyType = KeyRSA2048 }, []string{"sa.key", "sa.pub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ensure(t, dir, testOptions())
			age(t, dir)
			before := snapshot(t, dir)
			o := testOptions()
			tt.change(&o)
			b := ensure(t, dir, o)
			if got := changeNames(b); !slices.Equal(got, sorted(tt.want...)) {
				t.Errorf("Changes %v, want %v", b.Changes, tt.want)
			}
			if got := changed(before, snapshot(t, dir)); !slices.Equal(got, pairFiles(tt.want...)) {
				t.Errorf("rewrote %v, want %v", got, pairFiles(tt.want...))
			}
			// Stable from now on.
			if b := ensure(t, dir, o); len(b.Changes) != 0 {
				t.Errorf("third Ensure changed %v", b.Changes)
			}
		})
	}
}

func TestEnsureRenewsNearExpiry(t *testing.T) {
	t.Parallel()
	leaves := []string{"admin", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "etcd-peer", "etcd-server",
		"kube-controller-manager", "kube-proxy", "kube-scheduler", "kubelet-client", "kubelet-serving"}
	tests := []struct {
		name  string
		after time.Duration // clock moved forward by this much
		want  []string
	}{
		{"leaves outside window", DefaultValidity - RenewBefore - 24*time.Hour, nil},
		{"leaves inside window", DefaultValidity - RenewBefore + 24*time.Hour, leaves},
		{"leaves expired", DefaultValidity + time.Hour, leaves},
		{"CA inside window", DefaultCAValidity - RenewBefore + 24*time.Hour, append([]string{"ca", "etcd-ca"}, leaves...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ensure(t, dir, testOptions())
			age(t, dir)
			before := snapshot(t, dir)
			o := testOptions()
			o.now = func() time.Time { return time.Now().Add(tt.after) }
			b := ensure(t, dir, o)
			if got := changeNames(b); !slices.Equal(got, sorted(tt.want...)) {
				t.Errorf("Changes %v, want %v", b.Changes, tt.want)
			}
			if got := changed(before, snapshot(t, dir)); !slices.Equal(got, pairFiles(tt.want...)) {
				t.Errorf("rewrote %v, want %v", got, pairFiles(tt.want...))
			}
			if len(b.Changes) > 0 && !strings.Contains(b.Changes[0].Reason, "expire") {
				t.Errorf("first change %v: reason does not mention expiry", b.Changes[0])
			}
			if b := ensure(t, dir, o); len(b.Changes) != 0 {
				t.Errorf("Ensure after renewal changed %v", b.Changes)
			}
		})
	}
}

// TestEnsureRenewsShortCertOnDisk renews real files that expire within the
// window, without moving the clock: certificates issued for 20 days (window
// 10 days, so kept by that configuration) are due under the default options.
func TestEnsureRenewsShortCertOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	short := testOptions()
	short.Validity = 20 * 24 * time.Hour
	ensure(t, dir, short)
	if b := ensure(t, dir, short); len(b.Changes) != 0 {
		t.Fatalf("20-day certificates renewed under their own options: %v", b.Changes)
	}
	b := ensure(t, dir, testOptions())
	if len(b.Changes) != 11 || b.Changes[0].Name != "apiserver" || !strings.Contains(b.Changes[0].Reason, "renewal window 720h0m0s") {
		t.Errorf("Changes %v, want the 11 leaves, expiring within 720h", b.Changes)
	}
	if na := readCert(t, b.Admin.Cert).NotAfter; time.Until(na) < DefaultValidity-time.Hour {
		t.Errorf("renewed admin.crt expires %v, want in a year", na)
	}
}

func TestEnsureShortValidityIsStable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := testOptions()
	o.Validity = 2 * time.Hour
	o.CAValidity = 3 * time.Hour
	b := ensure(t, dir, o)
	if na := readCert(t, b.Admin.Cert).NotAfter; time.Until(na) > 2*time.Hour {
		t.Errorf("admin NotAfter %v, want within 2h", na)
	}
	if b := ensure(t, dir, o); len(b.Changes) != 0 {
		t.Errorf("short validity: second Ensure changed %v", b.Changes)
	}
	// Past half of the leaf validity the leaves renew; the CA is renewed
	// too, because its own window is at least the leaves'.
	o.now = func() time.Time { return time.Now().Add(100 * time.Minute) }
	if b := ensure(t, dir, o); len(b.Changes) != 13 {
		t.Errorf("after 100m: Changes %v, want the two CAs and 11 leaves", b.Changes)
	}
}

func TestEnsureReplacesDamagedFiles(t *testing.T) {
	t.Parallel()
	leaves := []string{"admin", "apiserver", "apiserver-kubelet-client", "kube-controller-manager",
		"kube-proxy", "kube-scheduler", "kubelet-client", "kubelet-serving"}
	etcdLeaves := []string{"apiserver-etcd-client", "etcd-peer", "etcd-server"}
	garbage := "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
	foreignKey, _, err := newKey(KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	foreignDER, err := x509.MarshalECPrivateKey(foreignKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	foreignKeyPEM := string(pem.EncodeToMemory(&pem.Block{Type: pemECKey, Bytes: foreignDER}))

	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   []string // names in Changes
		reason string   // substring of the first change's reason
	}{
		{"text in cert", write("admin.crt", "hello"), []string{"admin"}, "admin.crt: no PEM block"},
		{"bad DER in cert", write("apiserver.crt", garbage), []string{"apiserver"}, "apiserver.crt: x509:"},
		{"key PEM as cert", copyFile("kube-proxy.key", "kube-proxy.crt"), []string{"kube-proxy"}, `PEM block "EC PRIVATE KEY", want "CERTIFICATE"`},
		{"empty key", write("kube-scheduler.key", ""), []string{"kube-scheduler"}, "kube-scheduler.key: empty"},
		{"missing key", remove("kubelet-client.key"), []string{"kubelet-client"}, "kubelet-client.key: missing"},
		{"missing cert", remove("kubelet-serving.crt"), []string{"kubelet-serving"}, "kubelet-serving.crt: missing"},
		{"mismatched key", write("admin.key", foreignKeyPEM), []string{"admin"}, "admin.key does not match admin.crt"},
		{"two certs", appendFile("admin.crt", "ca.crt"), []string{"admin"}, "data after the first PEM block"},
		{"swapped client and server", swapPair("kube-proxy", "apiserver"), []string{"kube-proxy", "apiserver"}, "incompatible key usage"},
		{"garbage CA", write("ca.crt", "garbage"), append([]string{"ca"}, leaves...), "ca.crt: no PEM block"},
		{"missing CA key", remove("ca.key"), append([]string{"ca"}, leaves...), "ca.key: missing"},
		{"leaf as CA", swapPair("ca", "admin"), append([]string{"ca"}, leaves...), "ca.crt: not a CA"},
		// A valid CA with its key is kept, whoever made it: the leaves are
		// reissued from it. This is how a caller supplies its own CA.
		{"foreign CA", foreignCA, leaves, "apiserver.crt: does not verify against ca.crt"},
		{"leaf of a foreign CA", foreignLeaf("admin"), []string{"admin"}, "does not verify against ca.crt"},
		// etcd has its own CA: replacing it reissues etcd's leaves only,
		// and a certificate of the cluster CA is no etcd certificate.
		{"garbage etcd CA", write("etcd-ca.crt", "garbage"), append([]string{"etcd-ca"}, etcdLeaves...), "etcd-ca.crt: no PEM block"},
		{"etcd client of the cluster CA", func(t *testing.T, dir string) {
			copyFile("admin.crt", "apiserver-etcd-client.crt")(t, dir)
			copyFile("admin.key", "apiserver-etcd-client.key")(t, dir)
		}, []string{"apiserver-etcd-client"}, "apiserver-etcd-client.crt: does not verify against etcd-ca.crt"},
		{"garbage sa.key", write("sa.key", "garbage"), []string{"sa.key", "sa.pub"}, "sa.key: no PEM block"},
		{"garbage sa.pub", write("sa.pub", "garbage"), []string{"sa.pub"}, "sa.pub: no PEM block"},
		{"foreign sa.pub", write("sa.pub", publicPEM(foreignKey)), []string{"sa.pub"}, "does not match sa.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ensure(t, dir, testOptions())
			tt.damage(t, dir)
			age(t, dir)
			before := snapshot(t, dir)
			b := ensure(t, dir, testOptions())
			if got := changeNames(b); !slices.Equal(got, sorted(tt.want...)) {
				t.Errorf("Changes %v, want %v", b.Changes, tt.want)
			}
			if len(b.Changes) > 0 && !strings.Contains(b.Changes[0].Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", b.Changes[0].Reason, tt.reason)
			}
			if got := changed(before, snapshot(t, dir)); !slices.Equal(got, pairFiles(tt.want...)) {
				t.Errorf("rewrote %v, want %v", got, pairFiles(tt.want...))
			}
			if b := ensure(t, dir, testOptions()); len(b.Changes) != 0 {
				t.Errorf("Ensure after repair changed %v", b.Changes)
			}
		})
	}
}

func write(name, content string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func remove(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// copyFile copies from (relative to dir unless absolute) to dir/to.
func copyFile(from, to string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if !filepath.IsAbs(from) {
			from = filepath.Join(dir, from)
		}
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		write(to, string(data))(t, dir)
	}
}

func appendFile(to, from string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		a, err := os.ReadFile(filepath.Join(dir, to))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, from))
		if err != nil {
			t.Fatal(err)
		}
		write(to, string(a)+string(b))(t, dir)
	}
}

// swapPair exchanges two certificate/key pairs (each pair stays consistent).
func swapPair(a, b string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		for _, ext := range []string{".crt", ".key"} {
			pa, pb := filepath.Join(dir, a+ext), filepath.Join(dir, b+ext)
			tmp := pa + ".swap"
			for _, r := range [][2]string{{pa, tmp}, {pb, pa}, {tmp, pb}} {
				if err := os.Rename(r[0], r[1]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// foreignCA replaces ca.crt/ca.key by another valid CA.
func foreignCA(t *testing.T, dir string) {
	other := t.TempDir()
	ensure(t, other, testOptions())
	copyFile(filepath.Join(other, "ca.crt"), "ca.crt")(t, dir)
	copyFile(filepath.Join(other, "ca.key"), "ca.key")(t, dir)
}

// foreignLeaf replaces a pair by the same pair issued by another CA: right
// subject, right SANs, wrong issuer.
func foreignLeaf(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		other := t.TempDir()
		ensure(t, other, testOptions())
		copyFile(filepath.Join(other, name+".crt"), name+".crt")(t, dir)
		copyFile(filepath.Join(other, name+".key"), name+".key")(t, dir)
	}
}

func publicPEM(k crypto.Signer) string {
	p, err := encodePublicKey(k.Public())
	if err != nil {
		panic(err)
	}
	return string(p)
}

func TestEnsureIOErrorIsReturned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ensure(t, dir, testOptions())
	// A directory where a certificate should be: not "missing", not
	// "corrupt", so Ensure must fail rather than guess.
	p := filepath.Join(dir, "admin.crt")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Ensure(dir, testOptions())
	if err == nil || !strings.Contains(err.Error(), "admin.crt") {
		t.Fatalf("Ensure with a directory as admin.crt: err = %v, want an error naming admin.crt", err)
	}
	if errors.Is(err, ErrInvalidOptions) {
		t.Errorf("I/O error %v wraps ErrInvalidOptions", err)
	}
	if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
		t.Errorf("admin.crt was replaced: %v", err)
	}
}

func TestEnsureFixesModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := ensure(t, dir, testOptions())
	if err := os.Chmod(b.Admin.Key, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(b.ServiceAccountKey, 0o666); err != nil {
		t.Fatal(err)
	}
	age(t, dir)
	before := snapshot(t, dir)
	b = ensure(t, dir, testOptions())
	if len(b.Changes) != 0 {
		t.Errorf("Changes %v", b.Changes)
	}
	if c := changed(before, snapshot(t, dir)); len(c) != 0 {
		t.Errorf("rewrote %v", c)
	}
	for _, p := range []string{b.Admin.Key, b.ServiceAccountKey} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", p, fi.Mode().Perm(), err)
		}
	}
}

func TestEnsureSANOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := Options{
		NodeName:    "node-1",
		NodeIP:      net.ParseIP("2001:db8::2"),
		ServiceCIDR: "10.96.0.0/12, fd00:10:96::/108",
		ExtraSANs:   []string{"API.Example.com", "*.apps.example.com", "10.0.0.5", "::ffff:10.0.0.6"},
	}
	b := ensure(t, dir, o)
	c := readCert(t, b.APIServer.Cert)
	wantDNS := sorted("kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", "localhost", "node-1", "api.example.com", "*.apps.example.com")
	if got := sorted(c.DNSNames...); !slices.Equal(got, wantDNS) {
		t.Errorf("DNS SANs %v, want %v", got, wantDNS)
	}
	wantIPs := sorted("127.0.0.1", "10.96.0.1", "fd00:10:96::1", "2001:db8::2", "10.0.0.5", "10.0.0.6")
	if got := ipStrings(c.IPAddresses); !slices.Equal(got, wantIPs) {
		t.Errorf("IP SANs %v, want %v", got, wantIPs)
	}
	ks := readCert(t, b.KubeletServing.Cert)
	if got, want := ipStrings(ks.IPAddresses), sorted("127.0.0.1", "2001:db8::2"); !slices.Equal(got, want) {
		t.Errorf("kubelet serving IP SANs %v, want %v", got, want)
	}
	if b := ensure(t, dir, o); len(b.Changes) != 0 {
		t.Errorf("second Ensure changed %v", b.Changes)
	}
}

func TestEnsureRSAServiceAccountKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := testOptions()
	o.ServiceAccountKeyType = KeyRSA2048
	b := ensure(t, dir, o)
	data, err := os.ReadFile(b.ServiceAccountKey)
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(data); block == nil || block.Type != "RSA PRIVATE KEY" {
		t.Fatalf("sa.key is not an RSA PRIVATE KEY PEM")
	}
	key, _, _ := loadKey(b.ServiceAccountKey)
	if k, ok := key.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
		t.Errorf("sa.key: %T, want RSA-2048", key)
	}
	pub, _, _ := loadPublicKey(b.ServiceAccountPub)
	if !publicKeysEqual(pub, key.Public()) {
		t.Errorf("sa.pub does not match sa.key")
	}
	if b := ensure(t, dir, o); len(b.Changes) != 0 {
		t.Errorf("second Ensure changed %v", b.Changes)
	}
}

func TestEnsureRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
	}{
		{"no node name", Options{}},
		{"upper-case node name", Options{NodeName: "Node"}},
		{"node name with space", Options{NodeName: "a b"}},
		{"node name label too long", Options{NodeName: strings.Repeat("a", 64)}},
		{"bad node IP", Options{NodeName: "n", NodeIP: net.IP{1, 2, 3}}},
		{"bad service CIDR", Options{NodeName: "n", ServiceCIDR: "10.96.0.1"}},
		{"service CIDR /32", Options{NodeName: "n", ServiceCIDR: "10.96.0.1/32"}},
		{"bad extra SAN", Options{NodeName: "n", ExtraSANs: []string{"https://example.com"}}},
		{"negative validity", Options{NodeName: "n", Validity: -time.Hour}},
		{"negative CA validity", Options{NodeName: "n", CAValidity: -time.Hour}},
		{"bad key type", Options{NodeName: "n", ServiceAccountKeyType: "dsa"}},
		{"bad cluster domain", Options{NodeName: "n", ClusterDomain: "cluster_local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "pki")
			_, err := Ensure(dir, tt.o)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("bad options created %s", dir)
			}
		})
	}
}

// TestTLSHandshakes uses the certificates the way the components do: the
// apiserver and kubelet serve, the clients authenticate, both sides verify
// against ca.crt.
func TestTLSHandshakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := ensure(t, dir, testOptions())
	caPool := x509.NewCertPool()
	caPEM, err := os.ReadFile(b.CA.Cert)
	if err != nil {
		t.Fatal(err)
	}
	caPool.AppendCertsFromPEM(caPEM)

	handshake := func(serverPair, clientPair Pair, serverName string) (string, error) {
		sc, err := tls.LoadX509KeyPair(serverPair.Cert, serverPair.Key)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := tls.LoadX509KeyPair(clientPair.Cert, clientPair.Key)
		if err != nil {
			t.Fatal(err)
		}
		cConn, sConn := net.Pipe()
		defer cConn.Close()
		deadline := time.Now().Add(10 * time.Second)
		cConn.SetDeadline(deadline)
		sConn.SetDeadline(deadline)
		srv := tls.Server(sConn, &tls.Config{
			Certificates: []tls.Certificate{sc},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    caPool,
		})
		done := make(chan error, 1)
		var peer string
		go func() {
			err := srv.Handshake()
			if err == nil {
				peer = srv.ConnectionState().PeerCertificates[0].Subject.CommonName
				_, err = io.WriteString(srv, "ok")
			}
			if err == nil {
				err = srv.Close()
			}
			sConn.Close()
			done <- err
		}()
		cli := tls.Client(cConn, &tls.Config{
			Certificates: []tls.Certificate{cc},
			RootCAs:      caPool,
			ServerName:   serverName,
		})
		cerr := cli.Handshake()
		if cerr == nil {
			var got []byte
			if got, cerr = io.ReadAll(cli); cerr == nil && string(got) != "ok" {
				cerr = fmt.Errorf("read %q", got)
			}
		}
		cConn.Close()
		serr := <-done
		if cerr != nil {
			return "", fmt.Errorf("client: %w", cerr)
		}
		if serr != nil {
			return "", fmt.Errorf("server: %w", serr)
		}
		return peer, nil
	}

	ok := []struct {
		server, client Pair
		name, peer     string
	}{
		{b.APIServer, b.Admin, "kubernetes.default.svc", "kubernetes-admin"},
		{b.APIServer, b.Admin, "127.0.0.1", "kubernetes-admin"},
		{b.APIServer, b.ControllerManager, "10.96.0.1", "system:kube-controller-manager"},
		{b.APIServer, b.Scheduler, "localhost", "system:kube-scheduler"},
		{b.APIServer, b.Kubelet, "192.0.2.2", "system:node:kprobe-node"},
		{b.APIServer, b.KubeProxy, "kubernetes", "system:kube-proxy"},
		{b.KubeletServing, b.APIServerKubeletClient, "kprobe-node", "kube-apiserver-kubelet-client"},
		{b.KubeletServing, b.APIServerKubeletClient, "192.0.2.2", "kube-apiserver-kubelet-client"},
	}
	for _, tt := range ok {
		peer, err := handshake(tt.server, tt.client, tt.name)
		if err != nil || peer != tt.peer {
			t.Errorf("%s -> %s as %s: peer %q, err %v", filepath.Base(tt.client.Cert), filepath.Base(tt.server.Cert), tt.name, peer, err)
		}
	}
	bad := []struct {
		server, client Pair
		name, why      string
	}{
		{b.APIServer, b.Admin, "example.com", "name not in SANs"},
		{b.KubeletServing, b.Admin, "kubernetes.default.svc", "apiserver name on the kubelet"},
		{b.Admin, b.Admin, "kubernetes", "client certificate used to serve"},
		{b.APIServer, b.APIServer, "kubernetes", "serving certificate used as a client"},
	}
	for _, tt := range bad {
		if _, err := handshake(tt.server, tt.client, tt.name); err == nil {
			t.Errorf("%s: handshake succeeded", tt.why)
		}
	}
}

func BenchmarkEnsureEmptyDir(b *testing.B) {
	root := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		if _, err := Ensure(filepath.Join(root, fmt.Sprint(i)), testOptions()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnsureReuse(b *testing.B) {
	dir := b.TempDir()
	ensure(b, dir, testOptions())
	for b.Loop() {
		if bb := ensure(b, dir, testOptions()); len(bb.Changes) != 0 {
			b.Fatal(bb.Changes)
		}
	}
}

func BenchmarkEnsureAndKubeconfigs(b *testing.B) {
	root := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		bb := ensure(b, filepath.Join(root, fmt.Sprint(i)), testOptions())
		if _, err := bb.WriteKubeconfigs("", "https://127.0.0.1:6443"); err != nil {
			b.Fatal(err)
		}
	}
}
