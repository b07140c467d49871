package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// flattenYAML reads a kubeconfig with a real YAML parser into path ->
// value, e.g. "clusters.0.cluster.server" -> "https://...", so that the
// test sees every field the file holds.
func flattenYAML(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("kubeconfig is not YAML: %v\n%s", err, data)
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(strings.TrimPrefix(prefix+"."+k, "."), e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s.%d", prefix, i), e)
			}
		default:
			out[prefix] = fmt.Sprint(x)
		}
	}
	walk("", doc)
	return out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestWriteKubeconfigs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := ensure(t, dir, testOptions())
	const server = "https://127.0.0.1:6443"
	k, err := b.WriteKubeconfigs("", server)
	if err != nil {
		t.Fatal(err)
	}
	ca := readString(t, b.CA.Cert)
	for _, tt := range []struct {
		path string
		pair Pair
		user string
	}{
		{k.Admin, b.Admin, "kubernetes-admin"},
		{k.ControllerManager, b.ControllerManager, "system:kube-controller-manager"},
		{k.Scheduler, b.Scheduler, "system:kube-scheduler"},
		{k.Kubelet, b.Kubelet, "system:node:kprobe-node"},
		{k.KubeProxy, b.KubeProxy, "system:kube-proxy"},
	} {
		if filepath.Dir(tt.path) != dir {
			t.Errorf("%s not in %s", tt.path, dir)
		}
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", tt.path, fi.Mode().Perm())
		}
		got := flattenYAML(t, []byte(readString(t, tt.path)))
		ctx := tt.user + "@kprobe"
		want := map[string]string{
			"apiVersion":                "v1",
			"kind":                      "Config",
			"clusters.0.name":           "kprobe",
			"clusters.0.cluster.server": server,
			"clusters.0.cluster.certificate-authority-data": b64(ca),
			"users.0.name":                         tt.user,
			"users.0.user.client-certificate-data": b64(readString(t, tt.pair.Cert)),
			"users.0.user.client-key-data":         b64(readString(t, tt.pair.Key)),
			"contexts.0.name":                      ctx,
			"contexts.0.context.cluster":           "kprobe",
			"contexts.0.context.user":              tt.user,
			"current-context":                      ctx,
		}
		for key, w := range want {
			if got[key] != w {
				t.Errorf("%s: %s = %q, want %q", filepath.Base(tt.path), key, got[key], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d fields, want %d: %v", filepath.Base(tt.path), len(got), len(want), got)
		}
	}

	// Rewriting the same kubeconfigs leaves the files alone.
	for _, p := range []string{k.Admin, k.Kubelet} {
		if err := os.Chtimes(p, oldTime, oldTime); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.WriteKubeconfigs(dir, server); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{k.Admin, k.Kubelet} {
		if fi, _ := os.Stat(p); !fi.ModTime().Equal(oldTime) {
			t.Errorf("%s rewritten although unchanged", p)
		}
	}
	// A new server URL rewrites them.
	if _, err := b.WriteKubeconfigs(dir, "https://192.0.2.2:6443"); err != nil {
		t.Fatal(err)
	}
	if got := flattenYAML(t, []byte(readString(t, k.Admin)))["clusters.0.cluster.server"]; got != "https://192.0.2.2:6443" {
		t.Errorf("server after rewrite %q", got)
	}
}

func TestWriteKubeconfigRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := ensure(t, dir, testOptions())
	ca, cert, key := readString(t, b.CA.Cert), readString(t, b.Admin.Cert), readString(t, b.Admin.Key)
	path := filepath.Join(dir, "x.conf")
	for _, tt := range []struct {
		name                        string
		server, ca, cert, key, user string
	}{
		{"http server", "http://127.0.0.1:6443", ca, cert, key, "u"},
		{"no host", "https://", ca, cert, key, "u"},
		{"not a URL", "127.0.0.1:6443", ca, cert, key, "u"},
		{"CA not PEM", "https://h", "x", cert, key, "u"},
		{"cert not PEM", "https://h", ca, "", key, "u"},
		{"key not PEM", "https://h", ca, cert, "x", "u"},
		{"no user", "https://h", ca, cert, key, ""},
	} {
		if err := WriteKubeconfig(path, tt.server, tt.ca, tt.cert, tt.key, tt.user); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("rejected kubeconfig was written")
	}
	// Quoting: a user name YAML would misread unquoted survives.
	if err := WriteKubeconfig(path, "https://h:1/p?q=1#f", ca, cert, key, `a: "b" #c`); err != nil {
		t.Fatal(err)
	}
	got := flattenYAML(t, []byte(readString(t, path)))
	if got["users.0.name"] != `a: "b" #c` || got["clusters.0.cluster.server"] != "https://h:1/p?q=1#f" {
		t.Errorf("quoting: %v", got)
	}
}

// TestKubeconfigsWithKubectl hands the kubeconfigs to a real client (kubectl,
// client-go's clientcmd and transport) against a TLS server using the
// apiserver certificate and verifying client certificates like the
// apiserver does. Skipped when kubectl is not installed.
func TestKubeconfigsWithKubectl(t *testing.T) {
	t.Parallel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	dir := t.TempDir()
	b := ensure(t, dir, testOptions())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(readString(t, b.CA.Cert)))
	serving, err := tls.LoadX509KeyPair(b.APIServer.Cert, b.APIServer.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.TLS.VerifiedChains[0][0]
		fmt.Fprintf(w, "%s %s %s", r.URL.Path, c.Subject.CommonName, strings.Join(c.Subject.Organization, ","))
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	srv.StartTLS()
	defer srv.Close()

	k, err := b.WriteKubeconfigs(filepath.Join(dir, "kubeconfigs"), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir() // kubectl's cache goes here, not into the real home
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectl, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	for _, tt := range []struct{ path, user, reply string }{
		{k.Admin, "kubernetes-admin", "/healthz kubernetes-admin system:masters"},
		{k.ControllerManager, "system:kube-controller-manager", "/healthz system:kube-controller-manager "},
		{k.Scheduler, "system:kube-scheduler", "/healthz system:kube-scheduler "},
		{k.Kubelet, "system:node:kprobe-node", "/healthz system:node:kprobe-node system:nodes"},
		{k.KubeProxy, "system:kube-proxy", "/healthz system:kube-proxy "},
	} {
		var view struct {
			Clusters []struct {
				Name    string
				Cluster struct {
					Server string
					CAData string `json:"certificate-authority-data"`
				}
			}
			Users []struct {
				Name string
				User struct {
					CertData string `json:"client-certificate-data"`
					KeyData  string `json:"client-key-data"`
				}
			}
			CurrentContext string `json:"current-context"`
		}
		if err := json.Unmarshal([]byte(run("--kubeconfig", tt.path, "config", "view", "--raw", "-o", "json")), &view); err != nil {
			t.Fatal(err)
		}
		if len(view.Clusters) != 1 || view.Clusters[0].Cluster.Server != srv.URL || len(view.Users) != 1 || view.Users[0].Name != tt.user || view.CurrentContext != tt.user+"@kprobe" {
			t.Errorf("%s: kubectl config view: %+v", tt.path, view)
		}
		if got := run("--kubeconfig", tt.path, "get", "--raw", "/healthz"); got != tt.reply {
			t.Errorf("%s: kubectl get --raw /healthz = %q, want %q", filepath.Base(tt.path), got, tt.reply)
		}
	}
}
