package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/adapters/pki"
	"github.com/kprobe/kprobe/adapters/supervise"
)

// certsOf maps a PKI bundle onto the paths Render takes.
func certsOf(b *pki.Bundle) Certs {
	return Certs{
		CA: b.CA.Cert, CAKey: b.CA.Key,
		APIServerCert: b.APIServer.Cert, APIServerKey: b.APIServer.Key,
		EtcdCA:         b.EtcdCA.Cert,
		EtcdServerCert: b.EtcdServer.Cert, EtcdServerKey: b.EtcdServer.Key,
		EtcdPeerCert: b.EtcdPeer.Cert, EtcdPeerKey: b.EtcdPeer.Key,
		APIServerEtcdClientCert: b.APIServerEtcdClient.Cert, APIServerEtcdClientKey: b.APIServerEtcdClient.Key,
	}
}

// freePortPair finds a port p with p+1 also free on 127.0.0.1 (etcd's
// client and peer ports), away from a cluster's fixed 2379/2380.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// TestEtcdRefusesUnauthenticatedClients runs the real etcd with the flags
// Render gives it and the certificates adapters/pki issues, and talks to
// it as any local user could (issue 11: etcd answered plain HTTP on
// 127.0.0.1:2379 and 2380, so any local user read Secrets and wrote
// keys). Plain HTTP, TLS without a client certificate and TLS with a
// certificate of the cluster CA are all refused, on the client port and
// the peer port; the API server's etcd client certificate writes and
// reads a key.
func TestEtcdRefusesUnauthenticatedClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd is not installed (apt-get install etcd-server)")
	}
	dir := t.TempDir()
	b, err := pki.Ensure(filepath.Join(dir, "pki"), pki.Options{NodeName: "kprobe-node", NodeIP: net.ParseIP("192.0.2.2")})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig()
	c.DataDir, c.Bin.Etcd, c.Certs = dir, etcd, certsOf(b)
	c.EtcdPort = freePortPair(t)
	r, err := Render(plans["control-plane"], c)
	if err != nil {
		t.Fatal(err)
	}
	p := r.Processes[0]
	if p.Name != "etcd" {
		t.Fatalf("first process %s, want etcd", p.Name)
	}
	start(t, p)

	client := fmt.Sprintf("127.0.0.1:%d", c.EtcdPort)
	peer := fmt.Sprintf("127.0.0.1:%d", c.EtcdPort+1)
	caPool := x509.NewCertPool()
	caPEM, err := os.ReadFile(b.EtcdCA.Cert)
	if err != nil {
		t.Fatal(err)
	}
	caPool.AppendCertsFromPEM(caPEM)
	httpsClient := func(pair *pki.Pair) *http.Client {
		cfg := &tls.Config{RootCAs: caPool, ServerName: "127.0.0.1"}
		if pair != nil {
			cert, err := tls.LoadX509KeyPair(pair.Cert, pair.Key)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	put := func(cl *http.Client, scheme, hostport string) (int, string, error) {
		// etcd's v3 JSON gateway: key "kprobe" = value "x", base64.
		resp, err := cl.Post(scheme+"://"+hostport+"/v3/kv/put", "application/json", strings.NewReader(`{"key":"a3Byb2Jl","value":"eA=="}`))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return resp.StatusCode, body.String(), nil
	}

	// Wait until etcd answers the API server's certificate (or, as before
	// issue 11, anyone over plain HTTP).
	apiserver := httpsClient(&b.APIServerEtcdClient)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, err := put(apiserver, "https", client)
		if err == nil && code == http.StatusOK {
			break
		}
		if code, _, err := put(http.DefaultClient, "http", client); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd did not answer in 30 s: %d %v", code, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	clusterCAClient := httpsClient(&b.Admin)
	for _, hp := range []string{client, peer} {
		if code, body, err := put(http.DefaultClient, "http", hp); err == nil && code == http.StatusOK {
			t.Errorf("%s: plain HTTP, no credentials: wrote a key (%s)", hp, body)
		}
		if code, body, err := put(httpsClient(nil), "https", hp); err == nil {
			t.Errorf("%s: TLS without a client certificate answered %d %s", hp, code, body)
		}
		// The admin certificate of the cluster CA: what an approved CSR
		// would give anyone.
		if code, body, err := put(clusterCAClient, "https", hp); err == nil {
			t.Errorf("%s: TLS with a certificate of the cluster CA answered %d %s", hp, code, body)
		}
	}
	// The API server's certificate writes and reads.
	if code, body, err := put(apiserver, "https", client); err != nil || code != http.StatusOK {
		t.Fatalf("the API server's etcd client certificate cannot write a key: %d %s %v", code, body, err)
	}
	resp, err := apiserver.Post("https://"+client+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"a3Byb2Jl"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), `"value":"eA=="`) {
		t.Errorf("range as the API server: %s", body.String())
	}
	// Nothing else listens: no plain-HTTP metrics port.
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.EtcdPort+2), time.Second); err == nil {
		conn.Close()
		for _, a := range p.Args {
			if strings.Contains(a, fmt.Sprint(c.EtcdPort+2)) {
				t.Errorf("etcd listens on %d too (%s)", c.EtcdPort+2, a)
			}
		}
	}
}

// start runs p until the test ends, and shows its log if the test fails.
func start(t *testing.T, p supervise.Process) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, p.Path, p.Args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", p.Name, logs.String())
		}
	})
}

// TestAPIServerAnonymousHealthOnly runs the real etcd and kube-apiserver
// with Render's flags: a request without credentials reaches /livez,
// /readyz and /healthz and nothing else (issue 11: anonymous auth was on
// and the API bound every address), and the admin certificate reads
// Secrets.
func TestAPIServerAnonymousHealthOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver")
	}
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd is not installed (apt-get install etcd-server)")
	}
	apiserver, err := exec.LookPath("kube-apiserver")
	if err != nil {
		t.Skip("kube-apiserver is not on PATH (make engine; PATH=$PWD/bin/engine:$PATH)")
	}
	dir := t.TempDir()
	b, err := pki.Ensure(filepath.Join(dir, "pki"), pki.Options{NodeName: "kprobe-node", NodeIP: net.ParseIP("192.0.2.2")})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig()
	c.DataDir, c.Bin.Etcd, c.Bin.APIServer, c.Certs = dir, etcd, apiserver, certsOf(b)
	c.Certs.SAPub, c.Certs.SAKey = b.ServiceAccountPub, b.ServiceAccountKey
	c.Certs.KubeletClientCert, c.Certs.KubeletClientKey = b.APIServerKubeletClient.Cert, b.APIServerKubeletClient.Key
	c.EtcdPort = freePortPair(t)
	c.APIPort = freePortPair(t)
	kcs, err := b.WriteKubeconfigs(filepath.Join(dir, "kubeconfigs"), fmt.Sprintf("https://127.0.0.1:%d", c.APIPort))
	if err != nil {
		t.Fatal(err)
	}
	c.Certs.ControllerManagerKubeconfig, c.Certs.SchedulerKubeconfig = kcs.ControllerManager, kcs.Scheduler
	r, err := Render(plans["control-plane"], c)
	if err != nil {
		t.Fatal(err)
	}
	for path, content := range r.Files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r.Processes[0].Name != "etcd" || r.Processes[1].Name != "kube-apiserver" {
		t.Fatalf("processes %s, %s", r.Processes[0].Name, r.Processes[1].Name)
	}
	if !slices.Contains(r.Processes[1].Args, "--bind-address=127.0.0.1") {
		t.Errorf("a control plane alone binds %v", r.Processes[1].Args)
	}
	start(t, r.Processes[0])
	start(t, r.Processes[1])

	api := fmt.Sprintf("https://127.0.0.1:%d", c.APIPort)
	anon := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // a stranger: no trust, no credentials
	get := func(cl *http.Client, path string) (int, error) {
		resp, err := cl.Get(api + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		code, err := get(anon, "/readyz")
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz without credentials: %d %v", code, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, p := range []string{"/livez", "/healthz", "/readyz?verbose"} {
		if code, err := get(anon, p); err != nil || code != http.StatusOK {
			t.Errorf("%s without credentials: %d %v, want 200", p, code, err)
		}
	}
	for _, p := range []string{"/version", "/api", "/apis", "/metrics", "/openapi/v2", "/api/v1/namespaces/kube-system/secrets", "/.well-known/openid-configuration"} {
		if code, err := get(anon, p); err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d %v, want 401", p, code, err)
		}
	}
	cert, err := tls.LoadX509KeyPair(b.Admin.Cert, b.Admin.Key)
	if err != nil {
		t.Fatal(err)
	}
	admin := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}}}
	if code, err := get(admin, "/api/v1/namespaces/kube-system/secrets"); err != nil || code != http.StatusOK {
		t.Errorf("secrets as admin: %d %v, want 200", code, err)
	}

	// The controller-manager and the scheduler authenticate through the
	// API server: a stranger gets their health endpoints and nothing else.
	for _, p := range r.Processes[2:4] {
		path, err := exec.LookPath(p.Name)
		if err != nil {
			t.Logf("%s is not on PATH: not checked", p.Name)
			continue
		}
		p.Path = path
		port := freePortPair(t)
		p.Args = append(slices.Clone(p.Args), fmt.Sprintf("--secure-port=%d", port))
		start(t, p)
		base := fmt.Sprintf("https://127.0.0.1:%d", port)
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := anon.Get(base + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s /healthz: %v", p.Name, err)
			}
			time.Sleep(300 * time.Millisecond)
		}
		for _, path := range []string{"/metrics", "/configz", "/flagz", "/statusz", "/debug/pprof/", "/version"} {
			resp, err := anon.Get(base + path)
			if err != nil {
				t.Errorf("%s %s: %v", p.Name, path, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("%s %s without credentials: %d", p.Name, path, resp.StatusCode)
			}
			t.Logf("%s %s without credentials: %d", p.Name, path, resp.StatusCode)
		}
	}
}
