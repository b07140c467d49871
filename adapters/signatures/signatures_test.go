package signatures

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/shims"
	"github.com/kprobe/kprobe/profiles"
)

var update = flag.Bool("update", false, "rewrite docs/signatures.md")

type sample struct {
	no        int
	code      string
	component Component
	line      string
}

// readSamples reads testdata lines: tab-separated fields, the last one the
// log line (which may itself hold tabs only if fields says so).
func readSamples(t testing.TB, name string, fields int) []sample {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for no := 1; sc.Scan(); no++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		parts := strings.SplitN(text, "\t", fields)
		if len(parts) != fields {
			t.Fatalf("%s:%d: want %d tab-separated fields: %q", name, no, fields, text)
		}
		s := sample{no: no, line: parts[fields-1], component: Component(parts[fields-2])}
		if fields == 3 {
			s.code = parts[0]
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func positives(t testing.TB) []sample { return readSamples(t, "lines.txt", 3) }
func negatives(t testing.TB) []sample { return readSamples(t, "negative.txt", 2) }

var codeRe = regexp.MustCompile(`^SIG-[A-Z0-9]+(-[A-Z0-9]+)*$`)

// knownShim: a shim the plan may name (adapters.ShimNames) and
// adapters/shims implements.
func knownShim(name string) bool {
	if _, err := shims.Get(name); err != nil {
		return false
	}
	for _, n := range adapters.ShimNames {
		if n == name {
			return true
		}
	}
	return false
}

var knownComponents = map[Component]bool{
	Kubelet: true, Containerd: true, APIServer: true, KubeProxy: true,
	K3s: true, Runc: true, Flannel: true, Etcd: true, Any: true,
}

var settingComponents = map[adapters.Component]bool{
	adapters.Kubelet: true, adapters.KubeProxy: true, adapters.KubeAPIServer: true,
	adapters.Containerd: true, adapters.Cluster: true,
}

func TestTableWellFormed(t *testing.T) {
	index := map[string]int{}
	for i, s := range Table() {
		if !codeRe.MatchString(s.Code) {
			t.Errorf("%s: code is not SIG-WORD(-WORD)*", s.Code)
		}
		if _, dup := index[s.Code]; dup {
			t.Errorf("%s: duplicate code", s.Code)
		}
		index[s.Code] = i
		if !knownComponents[s.Component] {
			t.Errorf("%s: unknown component %q", s.Code, s.Component)
		}
		if s.Diagnosis == "" || s.Fix == "" || s.Source == "" {
			t.Errorf("%s: diagnosis, fix and source are all required", s.Code)
		}
		if !strings.HasSuffix(s.Diagnosis, ".") {
			t.Errorf("%s: the diagnosis is a sentence: %q", s.Code, s.Diagnosis)
		}
		a := s.Action
		if a.AtMost != "" && !profiles.ValidRung(a.AtMost) {
			t.Errorf("%s: AtMost %q is not a rung", s.Code, a.AtMost)
		}
		switch a.Kind {
		case Remedy:
			if len(a.Settings)+len(a.Shims) == 0 {
				t.Errorf("%s: a remedy without settings or shims", s.Code)
			}
		case StepDown, Advisory:
			if len(a.Settings)+len(a.Shims) > 0 {
				t.Errorf("%s: only a remedy carries settings and shims", s.Code)
			}
		case Fatal:
			if a.Needs == "" {
				t.Errorf("%s: a fatal signature must say what the environment needs", s.Code)
			}
		default:
			t.Errorf("%s: unknown action %q", s.Code, a.Kind)
		}
		for _, st := range a.Settings {
			if !settingComponents[st.Component] || st.Name == "" {
				t.Errorf("%s: bad setting %+v", s.Code, st)
			}
			if st.Reason != s.Code || st.Rationale == "" || st.Source != s.Source {
				t.Errorf("%s: setting %s does not carry the signature's reason", s.Code, st)
			}
		}
		for _, sh := range a.Shims {
			if !knownShim(sh.Name) {
				t.Errorf("%s: unknown shim %q", s.Code, sh.Name)
			}
			if sh.Reason != s.Code {
				t.Errorf("%s: shim %s does not carry the signature's reason", s.Code, sh.Name)
			}
		}
		if len(s.needles) == 0 {
			t.Errorf("%s: no literal to prefilter on; every line pays for the regexp", s.Code)
		}
		if Lookup(s.Code) != &Table()[i] {
			t.Errorf("%s: Lookup does not find it", s.Code)
		}
	}
	for _, s := range Table() {
		for _, sh := range s.Shadows {
			j, ok := index[sh]
			if !ok {
				t.Errorf("%s shadows unknown code %s", s.Code, sh)
			} else if j < index[s.Code] {
				t.Errorf("%s shadows %s but is listed after it", s.Code, sh)
			}
		}
	}
	if Lookup("SIG-NOPE") != nil {
		t.Error("Lookup found an unknown code")
	}
}

// TestCoverage: at least 30 of prior-art.md's numbered signatures are in
// the table, and every signature has a real line to fire on.
func TestCoverage(t *testing.T) {
	num := regexp.MustCompile(`prior-art\.md §2\.3 #(\d+)`)
	fromPriorArt := map[string]bool{}
	for _, s := range Table() {
		for _, m := range num.FindAllStringSubmatch(s.Source, -1) {
			fromPriorArt[m[1]] = true
		}
	}
	if len(fromPriorArt) < 30 {
		t.Errorf("%d signatures of prior-art.md §2.3 in the table, want at least 30", len(fromPriorArt))
	}
	have := map[string]int{}
	for _, p := range positives(t) {
		have[p.code]++
	}
	for _, s := range Table() {
		if have[s.Code] == 0 {
			t.Errorf("%s: no line in testdata/lines.txt", s.Code)
		}
	}
	t.Logf("%d signatures (%d numbered ones of prior-art.md §2.3), %d positive lines; %v",
		len(Table()), len(fromPriorArt), len(positives(t)), Counts(Table()))
}

func TestPositiveLines(t *testing.T) {
	for _, p := range positives(t) {
		if Lookup(p.code) == nil {
			t.Errorf("lines.txt:%d: unknown code %s", p.no, p.code)
			continue
		}
		h := Match(string(p.component), p.line)
		switch {
		case h == nil:
			t.Errorf("lines.txt:%d: %s did not fire on %s line %q", p.no, p.code, p.component, p.line)
		case h.Signature.Code != p.code:
			t.Errorf("lines.txt:%d: %s fired instead of %s on %q", p.no, h.Signature.Code, p.code, p.line)
		case h.Line != p.line || h.Log != p.component:
			t.Errorf("lines.txt:%d: hit %+v does not carry the line and its log", p.no, h)
		}
		// A log of unknown origin accepts every signature.
		if h := Match("", p.line); h == nil || h.Signature.Code != p.code {
			t.Errorf("lines.txt:%d: %s did not fire on the line from an unknown log", p.no, p.code)
		}
	}
}

// TestNoAmbiguity: every signature that fires on a positive line other
// than the expected one is declared in the expected one's Shadows (and
// comes later in Table, see TestTableWellFormed); every declared shadow
// is needed by some line.
func TestNoAmbiguity(t *testing.T) {
	used := map[[2]string]bool{}
	for _, p := range positives(t) {
		want := Lookup(p.code)
		if want == nil {
			continue
		}
		n := prepare(p.line)
		for i := range Table() {
			s := &Table()[i]
			if s == want || !s.matches(Any, n) {
				continue
			}
			declared := false
			for _, sh := range want.Shadows {
				declared = declared || sh == s.Code
			}
			if !declared {
				t.Errorf("lines.txt:%d: both %s and %s fire on %q; narrow one, or declare the precedence in Shadows",
					p.no, p.code, s.Code, p.line)
			}
			used[[2]string{want.Code, s.Code}] = true
		}
	}
	for _, s := range Table() {
		for _, sh := range s.Shadows {
			if !used[[2]string{s.Code, sh}] {
				t.Errorf("%s declares that it shadows %s, but no line in lines.txt shows the overlap", s.Code, sh)
			}
		}
	}
}

func TestNegativeLines(t *testing.T) {
	for _, n := range negatives(t) {
		for _, log := range []Component{n.component, Any} {
			if h := Match(string(log), n.line); h != nil {
				t.Errorf("negative.txt:%d: %s fired on a healthy %s line %q", n.no, h.Signature.Code, log, n.line)
			}
		}
	}
}

func TestComponentScoping(t *testing.T) {
	nft := "iptables/1.8.7 Failed to initialize nft: Protocol not supported"
	runc := "fatal: failed to update /proc/self/oom_score_adj: Permission denied"
	kmsg := "open /dev/kmsg: no such file or directory"
	for _, c := range []struct {
		log, line, want string
	}{
		{"kube-proxy", nft, "SIG-IPTABLES-NFT"},
		{"k3s", nft, "SIG-IPTABLES-NFT"},
		{"kubelet", nft, ""}, // the kubelet's canaries: harmless there
		{"containerd", nft, ""},
		{"runc", runc, "SIG-OOM-SCORE-ADJ"},
		{"containerd", runc, "SIG-OOM-SCORE-ADJ"},
		{"kubelet", runc, "SIG-OOM-SCORE-ADJ"},
		{"kube-apiserver", runc, ""},
		{"kubelet", kmsg, "SIG-KMSG-ENOENT"},
		{"containerd", kmsg, ""},
		{"kube-controller-manager", kmsg, ""},
		{"kube-controller-manager", "listen tcp 127.0.0.1:10257: bind: address already in use", "SIG-PORT-IN-USE"},
	} {
		got := ""
		if h := Match(c.log, c.line); h != nil {
			got = h.Signature.Code
		}
		if got != c.want {
			t.Errorf("%s log, %q: got %q, want %q", c.log, c.line, got, c.want)
		}
	}
}

// TestRuncDetail: runc >= 1.2 names the cause after "runc init error(s):";
// the EOF row guesses oom_score_adj only when runc says nothing more.
func TestRuncDetail(t *testing.T) {
	bare := "OCI runtime create failed: runc create failed: unable to start container process: can't get final child's PID from pipe: EOF: unknown"
	if h := Match("kubelet", bare); h == nil || h.Signature.Code != "SIG-RUNC-CHILD-PID-EOF" {
		t.Errorf("bare EOF: %+v", h)
	}
	unknown := "unable to start container process: can't get final child's PID from pipe: EOF; runc init error(s): nsexec-1[9]: something new: Invalid argument"
	if h := Match("kubelet", unknown); h != nil {
		t.Errorf("an unknown runc init cause was taken for %s", h.Signature.Code)
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		`plain "quotes"`:                    `plain "quotes"`,
		`err="cannot enter \"/x\" now"`:     `err="cannot enter "/x" now"`,
		`caused \\\"operation\\\"`:          `caused "operation"`,
		`{"error":"a\nb\tc"}`:               `{"error":"a b c"}`,
		strings.Repeat("x", MaxLine+10):     strings.Repeat("x", MaxLine),
		`backslash \ alone`:                 `backslash \ alone`,
		`msg="k3s: \\\"fuse-overlayfs\\\""`: `msg="k3s: "fuse-overlayfs""`,
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%.40q) = %.40q, want %.40q", in, got, want)
		}
	}
}

func TestDecide(t *testing.T) {
	plan := func(r profiles.Rung, settings []adapters.Setting, shims ...string) *adapters.Plan {
		p := &adapters.Plan{Rung: r, Settings: settings}
		for _, s := range shims {
			p.Shims = append(p.Shims, adapters.Shim{Name: s})
		}
		return p
	}
	kmsg := Lookup("SIG-KMSG-ENOENT")
	d := kmsg.Decide(plan(profiles.T0, nil))
	if !d.Stop || d.Rung != profiles.T0 || len(d.Shims) != 1 || d.Shims[0].Name != adapters.ShimKmsg || d.Shims[0].Reason != kmsg.Code {
		t.Errorf("kmsg remedy at T0: %+v", d)
	}
	// The shim was in place and the kubelet still failed: no worker rung
	// helps, process pods need no kubelet.
	if d := kmsg.Decide(plan(profiles.T1, nil, adapters.ShimKmsg)); !d.Stop || d.Rung != profiles.TP || len(d.Shims) != 0 {
		t.Errorf("kmsg with the shim in place: %+v", d)
	}
	gate := Lookup("SIG-SYSCTL-USERNS")
	if d := gate.Decide(plan(profiles.T1, []adapters.Setting{{Component: adapters.Kubelet, Name: "feature-gates", Value: "Foo=true, KubeletInUserNamespace=true"}})); d.Rung != profiles.TP {
		t.Errorf("the gate among others counts as applied: %+v", d)
	}
	if d := gate.Decide(plan(profiles.T1, []adapters.Setting{{Component: adapters.Kubelet, Name: "feature-gates", Value: "Foo=true"}})); d.Rung != profiles.T1 || len(d.Settings) != 1 {
		t.Errorf("another gate does not count: %+v", d)
	}
	ct := Lookup("SIG-CONNTRACK-MAX")
	if d := ct.Decide(plan(profiles.T0, []adapters.Setting{{Component: adapters.KubeProxy, Name: "conntrack-max-per-core", Value: "0"}})); d.Rung != profiles.T2 {
		t.Errorf("conntrack with the remedy in place goes to T2: %+v", d)
	}
	nft := Lookup("SIG-IPTABLES-NFT")
	for from, want := range map[profiles.Rung]profiles.Rung{profiles.T0: profiles.T2, profiles.T1: profiles.T2, profiles.T2: profiles.TP, profiles.TP: profiles.T3, profiles.T3: profiles.T4} {
		if d := nft.Decide(plan(from, nil)); !d.Stop || d.Rung != want {
			t.Errorf("iptables failure at %s: %+v, want %s", from, d, want)
		}
	}
	if d := Lookup("SIG-PORT-IN-USE").Decide(plan(profiles.T3, nil)); !d.Stop || d.Rung != profiles.T4 {
		t.Errorf("fatal: %+v", d)
	}
	if d := Lookup("SIG-IMAGEFS-INFO").Decide(plan(profiles.T1, nil)); d.Stop || d.Rung != profiles.T1 {
		t.Errorf("advisory: %+v", d)
	}
	if d := Lookup("SIG-SWAP-ON").Decide(nil); !d.Stop || d.Rung != profiles.T0 || len(d.Settings) != 1 {
		t.Errorf("nil plan: %+v", d)
	}
	// A step down without AtMost goes one rung.
	one := Signature{Action: Action{Kind: StepDown}}
	if d := one.Decide(plan(profiles.T1, nil)); d.Rung != profiles.T2 {
		t.Errorf("one rung: %+v", d)
	}
}

func TestDocs(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "signatures.md")
	got := Markdown(Table())
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it: go test ./adapters/signatures -run TestDocs -update)", err)
	}
	if string(want) != got {
		t.Fatalf("%s is stale: go test ./adapters/signatures -run TestDocs -update", path)
	}
	for _, s := range Table() {
		if !strings.Contains(got, "`"+s.Code+"`") {
			t.Errorf("%s missing from the docs", s.Code)
		}
	}
}

func TestActionString(t *testing.T) {
	var kinds []string
	for _, s := range Table() {
		kinds = append(kinds, s.Action.String())
	}
	sort.Strings(kinds)
	for _, want := range []string{
		"remedy: `kubelet fail-cgroupv1=false`; if it persists, step down to TP",
		"remedy: shim `kmsg`; if it persists, step down to TP",
		"step down to T2",
		"advisory: reported, the attempt goes on",
	} {
		i := sort.SearchStrings(kinds, want)
		if i == len(kinds) || kinds[i] != want {
			t.Errorf("no action reads %q", want)
		}
	}
}

// TestMatchBoundedTime: a huge adversarial line costs no more than its
// first MaxLine bytes.
func TestMatchBoundedTime(t *testing.T) {
	parts := []string{`\"`, "open /dev/kmsg: ", "cannot enter cgroupv2 ", "Failed to get the info of the filesystem with mountpoint ", "failed to write 1: open /sys/fs/cgroup/", "mounting \"cgroup\" to rootfs at \"/sys/fs/cgroup\""}
	var b strings.Builder
	for b.Len() < 8<<20 {
		for _, p := range parts {
			b.WriteString(p)
		}
	}
	line := b.String()
	start := time.Now()
	h := Match("", line)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Match took %v on an 8 MiB line", el)
	}
	if h != nil && len(h.Line) > MaxLine {
		t.Errorf("the hit keeps %d bytes", len(h.Line))
	}
}

func BenchmarkMatchHealthy(b *testing.B) {
	lines := negatives(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := lines[i%len(lines)]
		Match(string(n.component), n.line)
	}
}
