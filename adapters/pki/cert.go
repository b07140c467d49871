package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	modeKey  fs.FileMode = 0o600
	modeCert fs.FileMode = 0o644

	// backdate is subtracted from NotBefore so that a clock a little behind
	// (another process, a restored snapshot) still accepts a fresh certificate.
	backdate = 5 * time.Minute

	caCommonName     = "kprobe-ca"
	etcdCACommonName = "kprobe-etcd-ca"
)

// PEM block types written and read.
const (
	pemCertificate = "CERTIFICATE"
	pemECKey       = "EC PRIVATE KEY"  // SEC 1
	pemRSAKey      = "RSA PRIVATE KEY" // PKCS #1
	pemPKCS8Key    = "PRIVATE KEY"     // PKCS #8, read only
	pemPublicKey   = "PUBLIC KEY"      // PKIX
)

// readFile reads path. A missing or empty file is not an error but a reason
// to (re)create it; any other failure is returned.
func readFile(path string) (data []byte, reason string, err error) {
	data, err = os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, "missing", nil
	case err != nil:
		return nil, "", fmt.Errorf("pki: %w", err)
	case len(bytes.TrimSpace(data)) == 0:
		return nil, "empty", nil
	}
	return data, "", nil
}

// decodeOne returns the single PEM block in data.
func decodeOne(data []byte) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data after the first PEM block")
	}
	return block, nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, err := decodeOne(data)
	if err != nil {
		return nil, err
	}
	if block.Type != pemCertificate {
		return nil, fmt.Errorf("PEM block %q, want %q", block.Type, pemCertificate)
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKeyPEM(data []byte) (crypto.Signer, error) {
	block, err := decodeOne(data)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case pemECKey:
		return x509.ParseECPrivateKey(block.Bytes)
	case pemRSAKey:
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case pemPKCS8Key:
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported key type %T", k)
		}
		return s, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
}

// loadPair reads and parses a certificate and its key. reason is non-empty
// when either is missing or unusable.
func loadPair(p Pair) (*x509.Certificate, crypto.Signer, string, error) {
	certName, keyName := filepath.Base(p.Cert), filepath.Base(p.Key)
	certPEM, certReason, err := readFile(p.Cert)
	if err != nil {
		return nil, nil, "", err
	}
	keyPEM, keyReason, err := readFile(p.Key)
	if err != nil {
		return nil, nil, "", err
	}
	switch {
	case certReason == "missing" && keyReason == "missing":
		return nil, nil, "missing", nil
	case certReason != "":
		return nil, nil, certName + ": " + certReason, nil
	case keyReason != "":
		return nil, nil, keyName + ": " + keyReason, nil
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, nil, certName + ": " + err.Error(), nil
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, nil, keyName + ": " + err.Error(), nil
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, nil, keyName + " does not match " + certName, nil
	}
	return cert, key, "", nil
}

// loadKey reads and parses a private key; reason as for loadPair.
func loadKey(path string) (crypto.Signer, string, error) {
	name := filepath.Base(path)
	data, reason, err := readFile(path)
	if err != nil || reason != "" {
		return nil, reason, err
	}
	key, err := parseKeyPEM(data)
	if err != nil {
		return nil, name + ": " + err.Error(), nil
	}
	return key, "", nil
}

// loadPublicKey reads and parses a PKIX public key; reason as for loadPair.
func loadPublicKey(path string) (crypto.PublicKey, string, error) {
	name := filepath.Base(path)
	data, reason, err := readFile(path)
	if err != nil || reason != "" {
		return nil, reason, err
	}
	block, err := decodeOne(data)
	if err != nil {
		return nil, name + ": " + err.Error(), nil
	}
	if block.Type != pemPublicKey {
		return nil, fmt.Sprintf("%s: PEM block %q, want %q", name, block.Type, pemPublicKey), nil
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, name + ": " + err.Error(), nil
	}
	return pub, "", nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// checkKeyType says why key is not of type t, or "".
func checkKeyType(key crypto.Signer, t KeyType) string {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if t == KeyECDSAP256 && k.Curve == elliptic.P256() {
			return ""
		}
		return fmt.Sprintf("key is ECDSA %s, want %s", k.Curve.Params().Name, t)
	case *rsa.PrivateKey:
		if t == KeyRSA2048 && k.N.BitLen() >= 2048 {
			return ""
		}
		return fmt.Sprintf("key is RSA-%d, want %s", k.N.BitLen(), t)
	}
	return fmt.Sprintf("key is %T, want %s", key, t)
}

// checkValidity says why cert is not valid at now or expires within window.
func checkValidity(cert *x509.Certificate, now time.Time, window time.Duration) string {
	if now.Before(cert.NotBefore) {
		return "not valid before " + cert.NotBefore.UTC().Format(time.RFC3339)
	}
	if cert.NotAfter.Sub(now) <= window {
		return fmt.Sprintf("expires %s (renewal window %v)", cert.NotAfter.UTC().Format(time.RFC3339), window)
	}
	return ""
}

// checkCA says why cert/key cannot serve as the CA, or "".
func checkCA(caName string, cert *x509.Certificate, key crypto.Signer, now time.Time, window time.Duration) string {
	name := caName + ".crt: "
	if !cert.BasicConstraintsValid || !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return name + "not a CA certificate"
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return name + "not self-signed: " + err.Error()
	}
	if r := checkValidity(cert, now, window); r != "" {
		return name + r
	}
	return ""
}

// checkLeaf says why cert does not satisfy s under ca, or "".
func checkLeaf(cert *x509.Certificate, key crypto.Signer, ca *x509.Certificate, s leafSpec, now time.Time, window time.Duration) string {
	name := s.name + ".crt: "
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   s.usages(),
	})
	if err != nil {
		return name + "does not verify against " + s.caFile() + ": " + err.Error()
	}
	if r := checkValidity(cert, now, window); r != "" {
		return name + r
	}
	if want := s.usages(); !slices.Equal(cert.ExtKeyUsage, want) || len(cert.UnknownExtKeyUsage) != 0 {
		var names []string
		for _, u := range want {
			names = append(names, usageName(u))
		}
		return name + "extended key usage is not exactly " + strings.Join(names, ", ")
	}
	if got, want := subjectString(cert.Subject.CommonName, cert.Subject.Organization), subjectString(s.cn, s.org); got != want {
		return fmt.Sprintf("%ssubject %s, want %s", name, got, want)
	}
	if got := sortedDNS(cert.DNSNames); !slices.Equal(got, s.dns) {
		return fmt.Sprintf("%sDNS SANs %v, want %v", name, got, s.dns)
	}
	var ips []netip.Addr
	for _, ip := range cert.IPAddresses {
		ips = append(ips, addrOf(ip))
	}
	if got := sortedAddrs(ips); !slices.Equal(got, s.ips) {
		return fmt.Sprintf("%sIP SANs %v, want %v", name, got, s.ips)
	}
	if len(cert.URIs) != 0 || len(cert.EmailAddresses) != 0 {
		return name + "unexpected URI or e-mail SANs"
	}
	return ""
}

func subjectString(cn string, org []string) string {
	s := "CN=" + cn
	for _, o := range org {
		s += ", O=" + o
	}
	return s
}

func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	}
	return fmt.Sprintf("ExtKeyUsage(%d)", u)
}

// newKey generates a key of type t and returns it with its PEM encoding.
func newKey(t KeyType) (crypto.Signer, []byte, error) {
	switch t {
	case KeyRSA2048:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, fmt.Errorf("pki: generate RSA key: %w", err)
		}
		return k, pem.EncodeToMemory(&pem.Block{Type: pemRSAKey, Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	default:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, fmt.Errorf("pki: generate ECDSA key: %w", err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("pki: encode ECDSA key: %w", err)
		}
		return k, pem.EncodeToMemory(&pem.Block{Type: pemECKey, Bytes: der}), nil
	}
}

func encodePublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("pki: encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), nil
}

// serialLimit bounds serial numbers to 127 random bits: positive and at most
// 16 octets (RFC 5280 allows 20).
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 127)

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, serialLimit)
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// sign creates a certificate from tmpl, signed by parent/parentKey, and
// returns it parsed and PEM-encoded.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) (*x509.Certificate, []byte, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: sign %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse %q: %w", tmpl.Subject.CommonName, err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der}), nil
}

// writePair writes the key, then the certificate (a crash in between
// leaves a mismatched pair, which the next Ensure replaces).
func writePair(p Pair, certPEM, keyPEM []byte) error {
	if err := writeAtomic(p.Key, keyPEM, modeKey); err != nil {
		return err
	}
	return writeAtomic(p.Cert, certPEM, modeCert)
}

func (e *ensurer) issueCA(p Pair, cn string) (*x509.Certificate, crypto.Signer, error) {
	key, keyPEM, err := newKey(KeyECDSAP256)
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             e.now.Add(-backdate),
		NotAfter:              e.now.Add(e.o.CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	cert, certPEM, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePair(p, certPEM, keyPEM); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func (e *ensurer) issueLeaf(ca *x509.Certificate, caKey crypto.Signer, s leafSpec) error {
	key, keyPEM, err := newKey(KeyECDSAP256)
	if err != nil {
		return err
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.org},
		NotBefore:    e.now.Add(-backdate),
		// A leaf never outlives its CA.
		NotAfter:    minTime(e.now.Add(e.o.Validity), ca.NotAfter),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: s.usages(),
		DNSNames:    s.dns,
		// "CA:FALSE", critical, as kubeadm's leaves have.
		BasicConstraintsValid: true,
	}
	for _, a := range s.ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(a.AsSlice()))
	}
	_, certPEM, err := sign(tmpl, ca, key.Public(), caKey)
	if err != nil {
		return err
	}
	return writePair(s.pair, certPEM, keyPEM)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func fixModes(p Pair) error {
	if err := fixMode(p.Key, modeKey); err != nil {
		return err
	}
	return fixMode(p.Cert, modeCert)
}

// fixMode sets path's permission bits to mode when they differ (a reused
// key left world-readable is tightened).
func fixMode(path string, mode fs.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if fi.Mode().Perm() == mode {
		return nil
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
