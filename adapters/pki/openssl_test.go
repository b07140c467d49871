package pki

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenSSLCrossCheck checks the files with a second, independent
// implementation: openssl verify (chain, purpose, strict X.509), openssl
// x509 -text (SANs, usages, constraints) and openssl pkey (every key parses
// and matches its certificate). Skipped when openssl is not installed.
func TestOpenSSLCrossCheck(t *testing.T) {
	t.Parallel()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	run := func(wantOK bool, args ...string) string {
		t.Helper()
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if (err == nil) != wantOK {
			t.Errorf("openssl %s: err %v, want success %v\n%s", strings.Join(args, " "), err, wantOK, out)
		}
		return string(out)
	}
	for _, saType := range []KeyType{KeyECDSAP256, KeyRSA2048} {
		dir := t.TempDir()
		o := testOptions()
		o.ServiceAccountKeyType = saType
		b := ensure(t, dir, o)
		ca := b.CA.Cert

		servers := []string{b.APIServer.Cert, b.KubeletServing.Cert}
		clients := []string{b.APIServerKubeletClient.Cert, b.Admin.Cert, b.ControllerManager.Cert,
			b.Scheduler.Cert, b.Kubelet.Cert, b.KubeProxy.Cert}
		out := run(true, append([]string{"verify", "-x509_strict", "-CAfile", ca, "-purpose", "sslserver"}, servers...)...)
		if strings.Count(out, ": OK") != len(servers) {
			t.Errorf("openssl verify sslserver:\n%s", out)
		}
		out = run(true, append([]string{"verify", "-x509_strict", "-CAfile", ca, "-purpose", "sslclient"}, clients...)...)
		if strings.Count(out, ": OK") != len(clients) {
			t.Errorf("openssl verify sslclient:\n%s", out)
		}
		for _, c := range clients {
			run(false, "verify", "-CAfile", ca, "-purpose", "sslserver", c)
		}
		for _, s := range servers {
			run(false, "verify", "-CAfile", ca, "-purpose", "sslclient", s)
		}
		// A chain to some other CA must not verify.
		other := ensure(t, t.TempDir(), testOptions())
		run(false, "verify", "-CAfile", other.CA.Cert, b.Admin.Cert)

		text := run(true, "x509", "-noout", "-text", "-in", ca)
		for _, want := range []string{"CA:TRUE", "Certificate Sign", "Subject: CN = kprobe-ca", "Issuer: CN = kprobe-ca"} {
			if !strings.Contains(text, want) {
				t.Errorf("ca.crt: text lacks %q:\n%s", want, text)
			}
		}
		text = run(true, "x509", "-noout", "-text", "-in", b.APIServer.Cert)
		for _, want := range []string{
			"CA:FALSE", "TLS Web Server Authentication", "ecdsa-with-SHA256", "NIST CURVE: P-256",
			"DNS:kubernetes,", "DNS:kubernetes.default,", "DNS:kubernetes.default.svc,",
			"DNS:kubernetes.default.svc.cluster.local,", "DNS:localhost,", "DNS:kprobe-node,",
			"IP Address:10.96.0.1", "IP Address:127.0.0.1", "IP Address:192.0.2.2",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("apiserver.crt: text lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "Client Authentication") {
			t.Errorf("apiserver.crt has clientAuth")
		}
		text = run(true, "x509", "-noout", "-text", "-in", b.KubeletServing.Cert)
		for _, want := range []string{"TLS Web Server Authentication", "DNS:kprobe-node", "DNS:localhost", "IP Address:127.0.0.1", "IP Address:192.0.2.2"} {
			if !strings.Contains(text, want) {
				t.Errorf("kubelet-serving.crt: text lacks %q:\n%s", want, text)
			}
		}
		subjects := map[string]string{
			b.APIServerKubeletClient.Cert: "subject=CN=kube-apiserver-kubelet-client,O=system:masters",
			b.Admin.Cert:                  "subject=CN=kubernetes-admin,O=system:masters",
			b.ControllerManager.Cert:      "subject=CN=system:kube-controller-manager",
			b.Scheduler.Cert:              "subject=CN=system:kube-scheduler",
			b.Kubelet.Cert:                "subject=CN=system:node:kprobe-node,O=system:nodes",
			b.KubeProxy.Cert:              "subject=CN=system:kube-proxy",
		}
		for c, want := range subjects {
			if got := strings.TrimSpace(run(true, "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", c)); got != want {
				t.Errorf("%s: %q, want %q", filepath.Base(c), got, want)
			}
			text := run(true, "x509", "-noout", "-text", "-in", c)
			if !strings.Contains(text, "TLS Web Client Authentication") || strings.Contains(text, "Server Authentication") {
				t.Errorf("%s: extended key usage is not clientAuth only:\n%s", filepath.Base(c), text)
			}
		}

		// Every key parses, passes openssl's check and matches its certificate.
		for _, p := range pairs(b) {
			run(true, "pkey", "-in", p.Key, "-check", "-noout")
			certPub := run(true, "x509", "-noout", "-pubkey", "-in", p.Cert)
			keyPub := run(true, "pkey", "-pubout", "-in", p.Key)
			if certPub != keyPub {
				t.Errorf("%s: openssl says the key does not match the certificate", filepath.Base(p.Key))
			}
		}
		run(true, "pkey", "-in", b.ServiceAccountKey, "-check", "-noout")
		if got := run(true, "pkey", "-pubout", "-in", b.ServiceAccountKey); got != readString(t, b.ServiceAccountPub) {
			t.Errorf("%s: sa.pub is not the public half of sa.key:\n%s", saType, got)
		}
		text = run(true, "pkey", "-pubin", "-in", b.ServiceAccountPub, "-noout", "-text")
		want := map[KeyType]string{KeyECDSAP256: "NIST CURVE: P-256", KeyRSA2048: "Public-Key: (2048 bit)"}[saType]
		if !strings.Contains(text, want) {
			t.Errorf("%s: sa.pub text lacks %q:\n%s", saType, want, text)
		}
	}
}
