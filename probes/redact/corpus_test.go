package redact

import (
	"strconv"
	"strings"
	"testing"
)

// secretCorpus is one line per shape of secret a report or capture may
// carry, each with the values that must not survive redaction.
var secretCorpus = []struct {
	in      string
	secrets []string
}{
	// Environment variables whose name says secret.
	{"DB_PASS=s3cr3t-db", []string{"s3cr3t-db"}},
	{"MYSQL_PWD=myp4ss", []string{"myp4ss"}},
	{"PASSPHRASE=correct-horse", []string{"correct-horse"}},
	{"TOKEN=tok-123456", []string{"tok-123456"}},
	{"GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789", []string{"ghp_abcdefghijklmnopqrstuvwxyz0123456789"}},
	{"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", []string{"wJalrXUtnFEMI"}},
	{"api_key: sk-live-1234567890abcdef", []string{"sk-live-1234567890abcdef"}},
	// A redacted variable must not swallow the ones after it (/proc/<pid>/environ is NUL-separated).
	{"DB_PASS=x1\x00container=podman\x00TOKEN=y2\x00PATH=/usr/bin", []string{"x1", "y2"}},
	// URLs with credentials, upper and lower case proxies, a "/" in the password.
	{"http_proxy=http://alice:pa/ss@proxy.internal:3128", []string{"pa/ss", "alice:"}},
	{"HTTPS_PROXY=http://bob:hunter2@10.1.2.3:3128", []string{"hunter2"}},
	{"url: https://carol:pw%2Fx@git.example.com/repo.git", []string{"pw%2Fx"}},
	{"https://x.example/a?access_token=abc123&ref=main", []string{"abc123"}},
	// Webhooks.
	{"notify https://hooks.slack.com/services/T0001/B0002/XXXXXXXXXXXXXXXXXXXXXXXX", []string{"T0001/B0002", "XXXXXXXXXXXXXXXXXXXXXXXX"}},
	{"https://discord.com/api/webhooks/123456789/abcdefABCDEF-token", []string{"123456789", "abcdefABCDEF-token"}},
	// JWTs and authorization headers.
	{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl", []string{"eyJhbGciOiJIUzI1NiJ9", "c2lnbmF0dXJl"}},
	{"curl -H 'Basic dXNlcjpwYXNzd29yZA=='", []string{"dXNlcjpwYXNzd29yZA=="}},
	// Command-line tokens.
	{"k3s server --token K10abcdef::server:1234", []string{"K10abcdef"}},
	{"kubeadm join --discovery-token-ca-cert-hash sha256:abcd --token abcdef.0123456789abcdef", []string{"abcdef.0123456789abcdef"}},
	{"mysql --password hunter3 -u root", []string{"hunter3"}},
	// PEM blocks.
	{"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\nQWERTY==\n-----END RSA PRIVATE KEY-----", []string{"MIIEpAIBAAKCAQEA7", "QWERTY=="}},
	{"key: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n", []string{"b3BlbnNzaC1rZXktdjEAAAA"}},
	// Host names, long and short, and user names.
	{"hostname devbox-7f3a.corp.example", []string{"devbox-7f3a"}},
	{"node db1 ready, db1.corp.example", []string{"db1"}},
	// Every IPv4 range, documentation ones included (a VM's real address may be 192.0.2.2).
	{"eth0 10.88.4.17/24 gw 172.16.5.1 lan 192.168.1.20 pub 8.8.4.4", []string{"10.88.4.17", "172.16.5.1", "192.168.1.20", "8.8.4.4"}},
	{"inet 192.0.2.2/24 peer 198.51.100.7 svc 203.0.113.9", []string{"192.0.2.2", "198.51.100.7", "203.0.113.9"}},
	{"cgnat 100.64.3.4 link-local 169.254.10.20", []string{"100.64.3.4", "169.254.10.20"}},
	// IPv6 and MACs.
	{"inet6 2a01:4f8:c0c:1234::1/64 doc 2001:db8:5::7", []string{"2a01:4f8:c0c:1234::1", "2001:db8:5::7"}},
	{"link/ether 52:54:00:ab:cd:ef", []string{"52:54:00:ab:cd:ef"}},
}

func TestSecretCorpus(t *testing.T) {
	r := New([]string{"devbox-7f3a.corp.example", "devbox-7f3a", "db1"}, []string{"alice"})
	for _, c := range secretCorpus {
		out := r.String(c.in)
		for _, s := range c.secrets {
			if strings.Contains(out, s) {
				t.Errorf("%q survived:\n in: %q\nout: %q", s, c.in, out)
			}
		}
		if again := r.String(out); again != out {
			t.Errorf("not idempotent: %q then %q", out, again)
		}
	}
	// What follows a redacted variable stays.
	if out := r.String("DB_PASS=x1\x00container=podman\x00PATH=/usr/bin"); !strings.Contains(out, "container=podman") || !strings.Contains(out, "PATH=/usr/bin") {
		t.Errorf("a redacted variable swallowed the next ones: %q", out)
	}
	// Useful text stays: loopback, networks, paths with short words, versions.
	for _, keep := range []string{"127.0.0.1", "10.42.0.0/16", "/var/db1x", "v1.37.2", "--token-file /etc/k3s-token"} {
		if out := r.String("x " + keep + " y"); !strings.Contains(out, keep) {
			t.Errorf("%q was lost: %q", keep, out)
		}
	}
}

// TestPlaceholdersAreConsistentAndCollisionFree: one address is one
// placeholder, two addresses are two, and no placeholder is an address a
// machine may have (this VM's 192.0.2.2 stays apart from any Service IP).
func TestPlaceholdersAreConsistentAndCollisionFree(t *testing.T) {
	r := New(nil, nil)
	seen := map[string]string{}
	for i := 0; i < 600; i++ {
		ip := "10.43." + itoa(i/250) + "." + itoa(i%250+1)
		p := r.String(ip)
		if p == ip {
			t.Fatalf("%s not redacted", ip)
		}
		if prev, dup := seen[p]; dup {
			t.Fatalf("%s and %s share the placeholder %s", prev, ip, p)
		}
		seen[p] = ip
		if again := r.String(ip); again != p {
			t.Fatalf("%s: %s then %s", ip, p, again)
		}
	}
	real, svc := r.String("192.0.2.2"), r.String("10.96.0.1")
	if real == "192.0.2.2" || real == svc {
		t.Errorf("192.0.2.2 -> %s, 10.96.0.1 -> %s: want two different placeholders", real, svc)
	}
	m := New(nil, nil)
	macs := map[string]bool{}
	for i := 0; i < 300; i++ {
		p := m.String("52:54:00:ab:" + hex2(i/256) + ":" + hex2(i%256))
		if macs[p] {
			t.Fatalf("MAC placeholder %s used twice", p)
		}
		macs[p] = true
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func hex2(i int) string {
	const h = "0123456789abcdef"
	return string([]byte{h[i>>4&15], h[i&15]})
}
