package reports_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/launch"
	"github.com/kprobe/kprobe/adapters/verify"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/probes/probetest"
	"github.com/kprobe/kprobe/probes/redact"
	"github.com/kprobe/kprobe/probes/suite"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	sandboxDir = "../probes/testdata/sandboxes"
	version    = "v0.1.0-golden"
	hint       = "rerun go test ./reports -run 'TestRenderers|TestMerge' -update"
)

// clock is the injected time of every golden report.
var clock = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// rendered are the captured sandboxes whose report is kept as a golden
// file in every format: gvisor-run (a web IDE's gVisor, T3, seven
// blockers) and userns-root (T1, launched and verified; research/userns-root.md).
var rendered = map[string]bool{"gvisor-run": true, "userns-root": true}

// fixtureReport is the report kprobe makes of a replayed capture, stamped
// with the golden clock: the scan, the closest built-in profile and the
// plan; for userns-root also the launch and verification of the research.
func fixtureReport(t *testing.T, name string, s *probes.Scan) *reports.Report {
	t.Helper()
	s.DurationMS = 0
	for i := range s.Results {
		s.Results[i].DurationMS = 0
	}
	r := reports.FromScan(s, profiles.FromScan(s, version, clock), "capture "+name)
	bs, err := profiles.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	prof := r.MatchBuiltin(bs)
	if prof.Verdict.Rung != profiles.T4 {
		if r.Plan, err = adapters.Build(prof, adapters.Options{DataDir: "/var/lib/kprobe"}); err != nil {
			t.Fatal(err)
		}
	}
	if name == "userns-root" {
		r.AddRun(usernsRootRun(t, prof))
	}
	r.Stamp(version, clock)
	return r
}

// usernsRootRun is the launch and verification of research/userns-root.md:
// a first attempt at T1 ended by the kubelet's tunables in the user
// namespace (SIG-SYSCTL-USERNS), a second with its remedy ready (API 2.5 s,
// node 3.3 s, pod 4.1 s), and every verify check passing.
func usernsRootRun(t *testing.T, prof *profiles.Profile) *reports.Run {
	t.Helper()
	plan := func(remedies ...adapters.Setting) *adapters.Plan {
		p, err := adapters.Build(prof, adapters.Options{Engine: adapters.EngineKubernetes, DataDir: "/var/lib/kprobe"})
		if err != nil {
			t.Fatal(err)
		}
		p.Settings = append(p.Settings, remedies...)
		return p
	}
	gate := adapters.Setting{Component: adapters.Kubelet, Name: "feature-gates", Value: "KubeletInUserNamespace=true"}
	phase := func(name, detail string, at, took float64, done bool) launch.Phase {
		return launch.Phase{Name: name, Detail: detail, Done: done, AtMS: at, TookMS: took}
	}
	line := `E1128 15:19:29.561234    4321 container_manager_linux.go:452] "Updating kernel flag failed (Hint: enable KubeletInUserNamespace feature flag to ignore the error)" err="open /proc/sys/vm/overcommit_memory: permission denied" flag="vm/overcommit_memory"`
	first := &launch.Result{
		Engine: adapters.EngineKubernetes, Rung: "T1", DataDir: "/var/lib/kprobe", StartedAt: clock.Add(-3 * time.Minute),
		Phases: []launch.Phase{
			phase("preflight", "binaries, images, ports, data dir", 12.4, 12.4, true),
			phase("prepare", "host snapshot, certificates, configuration", 402.9, 390.5, true),
			phase("supervisor", "start the processes", 431.2, 28.3, true),
			phase("images", "import pause and busybox into containerd", 812.6, 370.1, true),
			phase("api", "kube-apiserver /readyz", 2561.7, 2130.5, true),
			phase("node", "SIG-SYSCTL-USERNS: The kubelet runs in a user namespace and cannot write its kernel tunables", 3190.4, 628.7, false),
		},
		Error: "SIG-SYSCTL-USERNS: The kubelet runs in a user namespace and cannot write its kernel tunables (vm.overcommit_memory, kernel.panic...). (kubelet log: " + line + ")",
		Plan:  plan(),
	}
	second := &launch.Result{
		Engine: adapters.EngineKubernetes, Rung: "T1", DataDir: "/var/lib/kprobe", StartedAt: clock.Add(-2 * time.Minute),
		Phases: []launch.Phase{
			phase("preflight", "binaries, images, ports, data dir", 11.8, 11.8, true),
			phase("prepare", "host snapshot, certificates, configuration", 398.1, 386.3, true),
			phase("supervisor", "start the processes", 425.0, 26.9, true),
			phase("images", "import pause and busybox into containerd", 790.4, 365.4, true),
			phase("api", "kube-apiserver /readyz", 2502.3, 2077.3, true),
			phase("node", "node kprobe-node Ready", 3301.6, 799.3, true),
			phase("pod", "probe pod Running", 4108.2, 806.6, true),
		},
		Kubeconfig: "/var/lib/kprobe/kubeconfig", Node: "kprobe-node", Ready: true,
		Plan: plan(gate),
	}
	attempts := []launch.Attempt{
		{
			Rung: profiles.T1, Error: first.Error, Result: first,
			Diagnosis: &launch.Diagnosis{
				Code: "SIG-SYSCTL-USERNS", Component: "kubelet", Line: line,
				Diagnosis: "The kubelet runs in a user namespace and cannot write its kernel tunables (vm.overcommit_memory, kernel.panic...).",
				Fix:       "kprobe launch sets the kubelet's KubeletInUserNamespace feature gate itself in a user namespace and retries",
				Remedy:    []adapters.Setting{gate},
			},
		},
		{Rung: profiles.T1, Remedies: []string{gate.String()}, Ready: true, Result: second},
	}
	check := func(name, criterion, evidence string, ms float64) verify.Check {
		return verify.Check{Name: name, Criterion: criterion, Outcome: verify.Pass, Evidence: evidence, DurationMS: ms}
	}
	v := &verify.Report{Kubeconfig: "/var/lib/kprobe/kubeconfig", Passed: true, Checks: []verify.Check{
		check("control-plane", "the API server answers /readyz and a node is Ready", "/readyz ok; node/kprobe-node condition met", 212.5),
		check("kubectl", "kubectl lists nodes and applies a manifest", "kubectl get nodes: kprobe-node Ready <none> 1s v1.37.2 203.0.113.254", 388.1),
		check("deployment", "a Deployment's pod runs", `deployment "web" successfully rolled out`, 2911.4),
		check("logs", "kubectl logs shows the container's output", "web-started", 140.2),
		check("exec", "kubectl exec runs a command in the pod, with stdin", "stdin-ok 42", 251.7),
		check("service", "a ClusterIP Service routes from one pod to another (kube-proxy, CNI)", "pod client -> service web (10.105.161.108:80) -> pod: HTTP/1.1 200 OK verify-ok", 3420.9),
		check("helm-dry-run", "helm install --dry-run=server validates a chart against the API", "rendered and validated by the server: STATUS: pending-install", 612.3),
		check("helm-install", "helm install deploys a chart whose pod runs", "STATUS: deployed; pod says hello-from-helm", 4102.8),
	}}
	return &reports.Run{Launch: second, Attempts: attempts, Verification: v}
}

// shared is the report as `kprobe report` shares it: redacted, with no
// host or user names of the machine the test runs on (they would make
// the golden files depend on it).
func shared(t *testing.T, r *reports.Report) *reports.Report {
	t.Helper()
	red, err := reports.NewRedactor(nil, nil, r)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := r.Redact(red, probes.SchemaOf(suite.All()))
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

func render(t *testing.T, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestRenderers renders the reports of captured sandboxes in every format
// and compares them with testdata/golden; it then merges every captured
// sandbox into the compatibility matrix.
func TestRenderers(t *testing.T) {
	var all []reports.Named
	probetest.EachFixture(t, sandboxDir, func(t *testing.T, name string, s *probes.Scan) {
		r := fixtureReport(t, name, s)
		all = append(all, reports.Named{File: name, Report: r})
		if !rendered[name] {
			return
		}
		golden := func(ext string, got []byte) {
			probetest.Golden(t, filepath.Join("testdata", "golden", name+ext), got, *update, hint)
		}
		golden(".txt", render(t, func(b *bytes.Buffer) error { return reports.WriteText(b, r, reports.TextOptions{}) }))
		sr := shared(t, r)
		golden(".md", render(t, func(b *bytes.Buffer) error { return reports.WriteMarkdown(b, sr) }))
		golden(".html", render(t, func(b *bytes.Buffer) error { return reports.WriteHTML(b, sr) }))
		golden(".json", render(t, func(b *bytes.Buffer) error { return reports.WriteJSON(b, sr) }))
	})
	if t.Failed() {
		return
	}
	// The matrix is redacted with one redactor, as `kprobe report merge` does.
	var rs []*reports.Report
	for _, n := range all {
		rs = append(rs, n.Report)
	}
	red, err := reports.NewRedactor(nil, nil, rs...)
	if err != nil {
		t.Fatal(err)
	}
	// Merge must not depend on the order of its inputs.
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	for i := range all {
		if all[i].Report, err = all[i].Report.Redact(red, probes.SchemaOf(suite.All())); err != nil {
			t.Fatal(err)
		}
	}
	m := reports.Merge(all)
	probetest.Golden(t, filepath.Join("testdata", "golden", "matrix.md"),
		render(t, func(b *bytes.Buffer) error { return reports.WriteMatrixMarkdown(b, m) }), *update, hint)
	probetest.Golden(t, filepath.Join("testdata", "golden", "matrix.html"),
		render(t, func(b *bytes.Buffer) error { return reports.WriteMatrixHTML(b, m) }), *update, hint)
}

// TestDecodeRoundTrip: a JSON report decodes to the same report, with the
// facts' types restored, and renders the same.
func TestDecodeRoundTrip(t *testing.T) {
	probetest.EachFixture(t, sandboxDir, func(t *testing.T, name string, s *probes.Scan) {
		if !rendered[name] {
			return
		}
		r := fixtureReport(t, name, s)
		data := render(t, func(b *bytes.Buffer) error { return reports.WriteJSON(b, r) })
		back, err := reports.Decode(data, probes.SchemaOf(suite.All()))
		if err != nil {
			t.Fatal(err)
		}
		if again := render(t, func(b *bytes.Buffer) error { return reports.WriteJSON(b, back) }); !bytes.Equal(data, again) {
			t.Errorf("JSON round trip differs:\n%s", probetest.DiffLines(string(data), string(again)))
		}
		if got, want := render(t, func(b *bytes.Buffer) error { return reports.WriteText(b, back, reports.TextOptions{}) }),
			render(t, func(b *bytes.Buffer) error { return reports.WriteText(b, r, reports.TextOptions{}) }); !bytes.Equal(got, want) {
			t.Errorf("text of the decoded report differs:\n%s", probetest.DiffLines(string(want), string(got)))
		}
		if _, ok := back.Facts["res.memory_bytes"].(int64); !ok {
			t.Errorf("res.memory_bytes decoded as %T, want int64", back.Facts["res.memory_bytes"])
		}
		if _, ok := back.Facts["priv.userns"].(probes.Tri); !ok {
			t.Errorf("priv.userns decoded as %T, want probes.Tri", back.Facts["priv.userns"])
		}
	})
}

func TestDecodeRejects(t *testing.T) {
	for in, want := range map[string]string{
		``:                       "not a kprobe JSON report",
		`{"apiVersion": `:        "not a kprobe JSON report",
		`[1, 2]`:                 "not a kprobe JSON report",
		`{"kind": "ScanReport"}`: "no apiVersion",
		`{"apiVersion": "kprobe.dev/v1alpha1", "kind": "SandboxProfile"}`:                  `apiVersion "kprobe.dev/v1alpha1" is not supported`,
		`{"apiVersion": "kprobe.dev/report/v2", "kind": "ScanReport"}`:                     `apiVersion "kprobe.dev/report/v2" is not supported`,
		`{"apiVersion": "kprobe.dev/report/v1alpha1", "kind": "Matrix"}`:                   `kind "Matrix" is not supported`,
		`{"apiVersion": "kprobe.dev/report/v1alpha1", "kind": "ScanReport", "results": 3}`: "cannot unmarshal",
	} {
		_, err := reports.Decode([]byte(in), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

// Secrets seeded into every part of a report that carries text.
const (
	hostname = "devbox-7f3a.corp.example"
	jwt      = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
)

var secrets = []string{
	"devbox-7f3a", "10.88.4.17", "10.88.4.255", "52:54:00:ab:cd:ef", "2a01:4f8:c0c:1234::1", "fe80", // fe80 stays: link-local; checked below
	"eyJhbGciOiJIUzI1NiJ9", "hunter2", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "s3cr3tQueryT0ken",
	"4c4c4544004d3510804bb4c04f4e4d32", "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "/home/alice", "alice", "bobby",
	"dGhpc2lzc2VjcmV0OnBhc3N3b3Jk", "proxy.internal",
}

// seed puts the secrets into the facts, evidence excerpts, finding text,
// plan settings, attempt log lines and verification of r.
func seed(r *reports.Report) {
	proxy := "HTTP_PROXY=http://jwt:" + jwt + "@proxy.internal:3128"
	r.Facts["net.interfaces"] = []string{"eth0 10.88.4.17/24 brd 10.88.4.255 link/ether 52:54:00:ab:cd:ef", "eth1 inet6 2a01:4f8:c0c:1234::1/64"}
	r.Facts["identity.markers"] = []string{"web IDE: " + proxy, "machine-id 4c4c4544004d3510804bb4c04f4e4d32"}
	r.Results[0].Facts["identity.markers"] = r.Facts["identity.markers"]
	r.Results[0].Summary = "host " + hostname + " owned by alice"
	r.Results[0].Evidence = append(r.Results[0].Evidence,
		probes.Evidence{Source: "/home/alice/.bashrc", Excerpt: "export GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789"},
		probes.Evidence{Source: "/proc/sys/kernel/random/boot_id", Excerpt: "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"})
	f := probes.Finding{Code: "KP-TEST-001", Severity: probes.Block,
		Summary:  "git remote https://alice:hunter2@git.example.com/repo.git on " + hostname,
		Evidence: probes.Evidence{Source: "/home/bobby/project/.git/config", Excerpt: "url = https://git.example.com/x?token=s3cr3tQueryT0ken&ref=main"},
		Fix:      "curl -H 'Authorization: Basic dGhpc2lzc2VjcmV0OnBhc3N3b3Jk' http://10.88.4.17:8080/ as bobby"}
	r.Results[0].Findings = append(r.Results[0].Findings, f)
	r.Blockers = append(r.Blockers, f)
	r.Plan.Settings = append(r.Plan.Settings, adapters.Setting{Component: adapters.Containerd, Name: "registry-proxy",
		Value: "http://alice:hunter2@" + hostname + ":3128", Reason: "R-TEST", Rationale: "proxy " + proxy})
	r.Attempts[0].Diagnosis.Line = "dial tcp 10.88.4.17:2379: connect: connection refused (" + hostname + ", " + proxy + ")"
	r.Attempts[0].Error = "etcd on " + hostname + " at [2a01:4f8:c0c:1234::1]:2379: Bearer " + jwt
	r.Launch.Kubeconfig = "/home/alice/.kube/config"
	r.Launch.Node = "devbox-7f3a"
	r.Verification.Checks[1].Evidence = "kubectl get nodes: devbox-7f3a Ready <none> 1s v1.37.2 10.88.4.17 fe80::1"
}

// TestRedactionLeavesNothing seeds a report with identifying values in
// every kind of field and checks that none survives in the Markdown, HTML
// and JSON a user shares, and that --no-redact keeps them.
func TestRedactionLeavesNothing(t *testing.T) {
	probetest.EachFixture(t, sandboxDir, func(t *testing.T, name string, s *probes.Scan) {
		if name != "userns-root" {
			return
		}
		r := fixtureReport(t, name, s)
		seed(r)
		// As the command does: this machine's host and user names (here
		// the seeded ones), and those home paths give away (bobby).
		red, err := reports.NewRedactor([]string{hostname, "devbox-7f3a"}, []string{"alice"}, r)
		if err != nil {
			t.Fatal(err)
		}
		rr, err := r.Redact(red, probes.SchemaOf(suite.All()))
		if err != nil {
			t.Fatal(err)
		}
		outputs := map[string][]byte{
			"md":   render(t, func(b *bytes.Buffer) error { return reports.WriteMarkdown(b, rr) }),
			"html": render(t, func(b *bytes.Buffer) error { return reports.WriteHTML(b, rr) }),
			"json": render(t, func(b *bytes.Buffer) error { return reports.WriteJSON(b, rr) }),
		}
		unredacted := render(t, func(b *bytes.Buffer) error { return reports.WriteJSON(b, r) })
		for _, secret := range secrets {
			if secret == "fe80" {
				continue
			}
			if !bytes.Contains(unredacted, []byte(secret)) {
				t.Errorf("the seeded report lacks %q: the test seeds nothing", secret)
			}
			for format, out := range outputs {
				if bytes.Contains(out, []byte(secret)) {
					t.Errorf("%q survived redaction in %s", secret, format)
				}
			}
		}
		for format, out := range outputs {
			// What a reader needs stays: codes, loopback-free structure,
			// link-local addresses, versions, the blocker row.
			for _, keep := range []string{"KP-TEST-001", "v1.37.2", "fe80::1", "SIG-SYSCTL-USERNS", "/var/lib/kprobe"} {
				if !bytes.Contains(out, []byte(keep)) {
					t.Errorf("%q was lost in %s", keep, format)
				}
			}
		}
		if !rr.Redacted || r.Redacted {
			t.Errorf("Redacted: got %v on the copy, %v on the original; want true, false", rr.Redacted, r.Redacted)
		}
	})
}

// TestRedactorPlaceholdersStable: one redactor over several reports maps
// the same address to the same placeholder in each.
func TestRedactorPlaceholdersStable(t *testing.T) {
	red := redact.New(nil, nil)
	a := red.String("node at 10.88.4.17")
	b := red.String("peer 10.1.2.3, node at 10.88.4.17")
	if !strings.HasSuffix(b, strings.TrimPrefix(a, "node at ")) || a == "node at 10.88.4.17" {
		t.Errorf("placeholders differ: %q %q", a, b)
	}
}

// TestHTMLSelfContained: the HTML pages load nothing and run nothing, so
// they read the same offline and cannot phone home.
func TestHTMLSelfContained(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join("testdata", "golden", "*.html"))
	if err != nil || len(pages) < 3 {
		t.Fatalf("want the report and matrix pages in testdata/golden, got %v (%v)", pages, err)
	}
	forbidden := regexp.MustCompile(`(?i)<script|<link|<img|<iframe|<object|<embed|\ssrc=|@import|url\(|\son[a-z]+=|\shref="(?:https?:)?//`)
	for _, p := range pages {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := forbidden.Find(data); m != nil {
			t.Errorf("%s: %q loads or runs something", p, m)
		}
		if !bytes.Contains(data, []byte("<style>")) || !bytes.HasPrefix(data, []byte("<!DOCTYPE html>")) {
			t.Errorf("%s: want one HTML document with its CSS inline", p)
		}
	}
}

// TestLoadRun reads what a launch leaves in DATA/run, leaves out a
// verification of an earlier launch, and names a file that does not decode.
func TestLoadRun(t *testing.T) {
	dir := t.TempDir()
	if run, err := reports.LoadRun(dir); run != nil || err != nil {
		t.Fatalf("empty data dir: %v %v, want nothing", run, err)
	}
	write := func(name string, v any, mtime time.Time) {
		t.Helper()
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "run", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now().Add(-time.Minute)
	res := &launch.Result{Engine: "k3s", Rung: "T3", DataDir: dir, StartedAt: started, Ready: true}
	write("launch.json", res, started)
	write("attempts.json", []launch.Attempt{{Rung: profiles.T3, Ready: true, Result: res}}, started)
	write("verify.json", verify.Report{Passed: true}, started.Add(-time.Hour)) // an earlier cluster's
	run, err := reports.LoadRun(dir)
	if err != nil || run == nil || run.Launch == nil || len(run.Attempts) != 1 || run.Verification != nil {
		t.Fatalf("LoadRun = %+v, %v; want the launch, one attempt and no stale verification", run, err)
	}
	write("verify.json", verify.Report{Passed: true}, started.Add(30*time.Second))
	if run, err = reports.LoadRun(dir); err != nil || run.Verification == nil || !run.Verification.Passed {
		t.Fatalf("LoadRun = %+v, %v; want this launch's verification", run, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run", "attempts.json"), []byte("[{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := reports.LoadRun(dir); err == nil || !strings.Contains(err.Error(), "attempts.json") {
		t.Errorf("a corrupt attempts.json: %v, want an error naming it", err)
	}
}

// A soak saved in the data dir is part of the report, as JSON and in the
// Markdown, with its verdict.
func TestSoakInReport(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	res := `{"apiVersion":"kprobe.dev/soak/v1alpha1","kind":"SoakResult","engine":"kubernetes","elapsedS":180,"intervalS":5,` +
		`"samples":[{},{}],"verdict":{"ok":true,"criteria":[{"name":"restarts","outcome":"pass","detail":"0 component restarts"}]}}`
	if err := os.WriteFile(filepath.Join(dir, "run", "soak.json"), []byte(res), 0o644); err != nil {
		t.Fatal(err)
	}
	run, err := reports.LoadRun(dir)
	if err != nil || run == nil || run.Soak == nil || !run.Soak.Verdict.OK {
		t.Fatalf("LoadRun: %+v, %v", run, err)
	}
	r := &reports.Report{}
	r.AddRun(run)
	var b bytes.Buffer
	if err := reports.WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "## Soak: passed") || !strings.Contains(b.String(), "| restarts | pass | 0 component restarts |") {
		t.Errorf("markdown has no soak section:\n%s", b.String())
	}
}
