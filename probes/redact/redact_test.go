package redact

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seeded is text as it appears in real captures and reports, with the
// identifying values a shared report must not carry.
const seeded = `hostname: devbox-7f3a.corp.example
eth0: inet 10.88.4.17/24 brd 10.88.4.255 link/ether 52:54:00:ab:cd:ef
inet6 2a01:4f8:c0c:1234::1/64
HTTP_PROXY=http://jwt:eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ@proxy.internal:3128
url: https://alice:hunter2@git.example.com/repo.git
GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789
api_key: sk-live-1234567890abcdef
machine-id 4c4c4544004d3510804bb4c04f4e4d32
home: /home/alice/project, owner alice, user alice2 stays
`

func TestNoSecretSurvives(t *testing.T) {
	r := New([]string{"devbox-7f3a.corp.example", "devbox-7f3a"}, []string{"alice"})
	out := r.String(seeded)
	for _, secret := range []string{"devbox-7f3a", "10.88.4.17", "10.88.4.255", "52:54:00:ab:cd:ef",
		"2a01:4f8:c0c:1234::1", "eyJhbGciOiJIUzI1NiJ9", "hunter2", "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
		"sk-live-1234567890abcdef", "4c4c4544004d3510804bb4c04f4e4d32", "/home/alice", "owner alice"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q survived redaction:\n%s", secret, out)
		}
	}
	// Useful structure stays: loopback, versions, the shape of the text.
	for _, keep := range []string{"alice2", "link/ether", "inet6"} {
		if !strings.Contains(out, keep) {
			t.Errorf("%q was lost:\n%s", keep, out)
		}
	}
	if got := r.String("listen 127.0.0.1:6443 and 10.88.4.17 again, v1.37.2, 16:07:59"); !strings.Contains(got, "127.0.0.1") ||
		!strings.Contains(got, "v1.37.2") || !strings.Contains(got, "16:07:59") || strings.Contains(got, "10.88.4.17") {
		t.Errorf("loopback, versions and times must stay, addresses go: %q", got)
	}
	if a, b := r.String("10.88.4.17"), r.String("10.88.4.17"); a != b {
		t.Errorf("the same address must map to the same placeholder: %q %q", a, b)
	}
}

func TestEnv(t *testing.T) {
	r := New(nil, nil)
	for in, want := range map[string]string{
		"GITHUB_TOKEN=abc":       "GITHUB_TOKEN=REDACTED",
		"HTTPS_PROXY=http://x@y": "HTTPS_PROXY=REDACTED",
		"AWS_SECRET_ACCESS_KEY=": "AWS_SECRET_ACCESS_KEY=",
		"container=podman":       "container=podman",
		"HOME=/home/bob":         "HOME=/home/user",
	} {
		if got := r.Env(in); got != want {
			t.Errorf("Env(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add(seeded)
	f.Fuzz(func(t *testing.T, s string) {
		r := New([]string{"host"}, []string{"bob"})
		out := r.String(s)
		// Redaction is idempotent: redacting twice changes nothing more.
		if again := r.String(out); again != out {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}

func TestCredentialsAndIDs(t *testing.T) {
	for in, want := range map[string]string{
		"Authorization: Bearer abcdef0123456789xyz":                        "Authorization: REDACTED REDACTED",
		"proxy-header Bearer abcdef0123456789xyz":                          "proxy-header Bearer REDACTED",
		"curl -u x -H 'Basic dXNlcjpwYXNzd29yZA=='":                        "curl -u x -H 'Basic REDACTED'",
		"HTTP Basic authentication":                                        "HTTP Basic authentication",
		"https://x.example/a?access_token=abc123&ref=main#top":             "https://x.example/a?access_token=REDACTED&ref=main#top",
		"https://bucket.example/o?X-Amz-Signature=deadbeef00&x=1":          "https://bucket.example/o?X-Amz-Signature=REDACTED&x=1",
		"HTTPS_PROXY=http://10.0.0.1:3128 NO_PROXY=localhost":              "HTTPS_PROXY=REDACTED NO_PROXY=REDACTED",
		"key AKIAIOSFODNN7EXAMPLE and glpat-abcdefghijklmnopqrst":          "key REDACTED-TOKEN and REDACTED-TOKEN",
		"boot_id 6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d":                     "boot_id 00000000-0000-0000-0000-000000000000",
		"ether 52-54-00-ab-cd-ef":                                          "ether 02:00:00:00:00:01",
		"cluster-cidr=10.42.0.0/16 service 10.43.0.0/16 node 10.42.0.5/24": "cluster-cidr=10.42.0.0/16 service 10.43.0.0/16 node 240.0.0.1/24",
		"ip addr add 203.0.113.254/31 dev dummy0 via 198.51.100.1":         "ip addr add 203.0.113.254/31 dev dummy0 via 240.0.0.1",
		"/Users/carol/src and /home/dave":                                  "/home/user/src and /home/user",
	} {
		if got := New(nil, nil).String(in); got != want {
			t.Errorf("String(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

func TestGenericUsersStay(t *testing.T) {
	// A person whose login is "dev" must not turn /dev/kmsg into nonsense;
	// one named "gitpod" must not hide the web IDE.
	r := New(nil, []string{"dev", "gitpod", "erin"})
	in := "open /dev/kmsg: EPERM; identity.ide=gitpod; owner erin"
	if got, want := r.String(in), "open /dev/kmsg: EPERM; identity.ide=gitpod; owner user2"; got != want {
		t.Errorf("String(%q) = %q, want %q", in, got, want)
	}
}

func TestHomeUsers(t *testing.T) {
	got := HomeUsers(`{"source":"/home/alice/.bashrc","x":"/Users/bob/x /home/user/ /home/alice"}`)
	if strings.Join(got, ",") != "alice,bob" {
		t.Errorf("HomeUsers = %v, want [alice bob]", got)
	}
}

func TestJSON(t *testing.T) {
	r := New([]string{"devbox-7f3a"}, nil)
	in := `{"facts":{"res.memory_bytes":25232932864,"net.interfaces":["eth0 10.88.4.17/24"]},` +
		`"results":[{"summary":"on devbox-7f3a","evidence":[{"excerpt":"TOKEN=abc"}],"ok":true,"n":null}],"10.1.1.1":"key stays"}`
	out, err := r.JSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"10.1.1.1":"key stays","facts":{"net.interfaces":["eth0 240.0.0.1/24"],"res.memory_bytes":25232932864},` +
		`"results":[{"evidence":[{"excerpt":"TOKEN=REDACTED"}],"n":null,"ok":true,"summary":"on host1"}]}`
	if string(out) != want {
		t.Errorf("JSON:\n got %s\nwant %s", out, want)
	}
	if _, err := r.JSON([]byte(`{"a":`)); err == nil {
		t.Error("JSON accepted a truncated document")
	}
}

func TestLocal(t *testing.T) {
	root := t.TempDir()
	for p, data := range map[string]string{
		"etc/hostname": "devbox-7f3a.corp.example\n",
		"etc/passwd":   "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hosts, users := Local(root)
	if strings.Join(hosts, ",") != "devbox-7f3a.corp.example,devbox-7f3a" || strings.Join(users, ",") != "alice" {
		t.Errorf("Local = %v %v", hosts, users)
	}
}
