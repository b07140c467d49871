package app

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/profiles"
	"github.com/kprobe/kprobe/reports"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/plan")

// TestPlanGolden prints the text plan of every built-in profile and
// compares it with testdata/plan/NAME.txt. After an intended change of the
// rules or the ladder: go test ./cmd/kprobe/app -run TestPlanGolden -update
func TestPlanGolden(t *testing.T) {
	names := profiles.BuiltinNames()
	if len(names) == 0 {
		t.Fatal("no built-in profiles")
	}
	for _, engine := range []string{"k3s", "kubernetes"} {
		for _, name := range names {
			t.Run(engine+"/"+name, func(t *testing.T) {
				code, out, errOut := runKprobe("plan", "--profile", "builtin:"+name, "--engine", engine, "--data-dir", "/var/lib/kprobe")
				if code != ExitOK || errOut != "" {
					t.Fatalf("exit %d, stderr:\n%s", code, errOut)
				}
				path := filepath.Join("testdata", "plan", name+".txt")
				if engine == "kubernetes" {
					// What the kubernetes engine runs: a bridge network, no
					// flannel, no vxlan, no NetworkPolicy enforcement.
					path = filepath.Join("testdata", "plan", "kubernetes", name+".txt")
					rungLine := ""
					for _, l := range strings.Split(out, "\n") {
						if strings.HasPrefix(l, "  rung ") {
							rungLine = l
						}
					}
					if strings.Contains(out, "  flannel-backend=vxlan") || strings.Contains(out, "  flannel-backend=host-gw") ||
						strings.Contains(rungLine, "flannel") || strings.Contains(rungLine, "network policy") {
						t.Errorf("the kubernetes engine's plan promises flannel or network policy:\n%s", out)
					}
					// Nor k3s's flags, nor k3s's requirements (issue #16).
					for _, k3sOnly := range []string{"flannel-backend=", "disable-agent=", " disable=", "data-dir=/", "vxlan links"} {
						if strings.Contains(out, k3sOnly) {
							t.Errorf("the kubernetes engine's plan names k3s's %q:\n%s", k3sOnly, out)
						}
					}
					if !strings.Contains(out, "the kubernetes engine starts etcd, kube-apiserver") {
						t.Errorf("the kubernetes engine's plan does not say what it starts:\n%s", out)
					}
				} else if strings.Contains(out, "rung      T3") && !strings.Contains(out, "disable-agent=true") {
					t.Errorf("a k3s plan at T3 without k3s's disable-agent:\n%s", out)
				}
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (go test ./cmd/kprobe/app -run TestPlanGolden -update writes it)", err)
				}
				if string(want) != out {
					t.Errorf("plan for builtin:%s differs from %s; if the change is intended, rerun with -update and review the diff.\n%s", name, path, lineDiff(string(want), out))
				}
			})
		}
	}
}

// lineDiff shows the lines that differ between want and got, with a line
// of context before each run.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl == gl {
			continue
		}
		fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, wl, gl)
	}
	return b.String()
}

// TestPlanOutputs checks the json and k3s-config outputs against the same
// plan the text shows.
func TestPlanOutputs(t *testing.T) {
	code, out, errOut := runKprobe("plan", "--profile", "builtin:gvisor-9p", "--engine", "kubernetes", "--process-pods", "--output", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var plan adapters.Plan
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if plan.Engine != adapters.EngineKubernetes || plan.Rung != profiles.TP || !plan.ProcessPods() || len(plan.Verdict.Checks) != 5 {
		t.Errorf("json plan: %+v", plan)
	}
	for _, s := range plan.Settings {
		if s.Reason == "" || s.Rationale == "" {
			t.Errorf("setting %v has no reason or rationale", s)
		}
	}

	code, out, errOut = runKprobe("plan", "--profile", "builtin:gvisor-9p", "--output", "k3s-config", "--data-dir", "/srv/k")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "disable-agent: true # R-") || !strings.HasPrefix(out, "# k3s server configuration written by kprobe") {
		t.Errorf("k3s-config output:\n%s", out)
	}

	// --rung plans lower than the verdict; the text says the rungs above
	// are possible.
	code, out, _ = runKprobe("plan", "--profile", "builtin:vm-or-host", "--engine", "k3s", "--rung", "T3")
	if code != ExitOK || !strings.Contains(out, "rung      T3") || !strings.Contains(out, "T0: possible here; the plan was asked for T3") {
		t.Errorf("--rung T3 on vm-or-host: exit %d\n%s", code, out)
	}
}

// TestPlanBadInput: every mistake is exit 3 with a message that names it.
func TestPlanBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("apiVersion = \"kprobe.dev/v1alpha1\"\nkind = \"SandboxProfile\"\ncolour = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--profile", "builtin:nope"}, `no built-in profile "nope"; known: ` + strings.Join(profiles.BuiltinNames(), ", ")},
		{[]string{"plan", "--profile", "gvisor-9p"}, "say builtin:gvisor-9p"},
		{[]string{"plan", "--profile", bad}, "colour: unknown key"},
		{[]string{"plan", "--output", "yaml"}, `--output "yaml": use text, json or k3s-config`},
		{[]string{"plan", "--engine", "nomad"}, `--engine "nomad": use auto, k3s or kubernetes`},
		{[]string{"plan", "--rung", "T4"}, `--rung "T4": use T0, T1, T2, TP or T3`},
		{[]string{"plan", "--profile", "builtin:gvisor-9p", "--rung", "T1"}, "--rung T1 is above the verdict TP"},
		{[]string{"plan", "--engine", "kubernetes", "--output", "k3s-config"}, "cannot go with --engine kubernetes"},
		{[]string{"plan", "extra"}, "takes no arguments"},
		{[]string{"profile", "show", "builtin:gvisor"}, `no built-in profile "gvisor"; known: bubblewrap,`},
		{[]string{"profile", "show", "--output", "yaml", "builtin:lxc"}, `--output "yaml": use text or toml`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runKprobe(tc.args...)
			if code != ExitBadInput {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitBadInput, out, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, errOut)
			}
		})
	}
}

func TestProfileListAndShowBuiltin(t *testing.T) {
	code, out, _ := runKprobe("profile", "list")
	if code != ExitOK {
		t.Fatalf("profile list exit %d", code)
	}
	for _, name := range profiles.BuiltinNames() {
		if !strings.Contains(out, "\n"+name+" ") && !strings.HasPrefix(out, name+" ") {
			t.Errorf("profile list lacks %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "gvisor-9p            TP  measured   gVisor with a 9p") || !strings.Contains(out, "wsl2                 T0  documented") {
		t.Errorf("profile list:\n%s", out)
	}
	code, out, _ = runKprobe("profile", "show", "builtin:gvisor-9p")
	if code != ExitOK || !strings.Contains(out, "gvisor-9p") || !strings.Contains(out, "verdict:") {
		t.Errorf("profile show builtin:gvisor-9p: exit %d\n%s", code, out)
	}
	code, out, _ = runKprobe("profile", "show", "--output", "toml", "builtin:wsl2")
	if code != ExitOK || !strings.Contains(out, "# Every fact here is DOCUMENTED") {
		t.Errorf("profile show --output toml builtin:wsl2: exit %d\n%s", code, out)
	}
	if code, out, _ = runKprobe("profile", "validate", "builtin:podman"); code != ExitOK {
		t.Errorf("profile validate builtin:podman: exit %d\n%s", code, out)
	}
}

// TestPlanHasNoSideEffect runs plan in every output against a built-in
// profile, a profile file and a fresh scan, and checks that it wrote no
// file (cwd, HOME, TMPDIR, the data dir) and left no process behind.
func TestPlanHasNoSideEffect(t *testing.T) {
	root := t.TempDir()
	home, tmp, work := filepath.Join(root, "home"), filepath.Join(root, "tmp"), filepath.Join(root, "work")
	for _, d := range []string{home, tmp, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A whole profile file (plan refuses one without the ladder's
	// facts), written from a captured sandbox before the tree is taken.
	capture, err := filepath.Abs(filepath.Join("..", "..", "..", "probes", "testdata", "sandboxes", "podman-rootless"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("TMPDIR", tmp)
	t.Chdir(work)
	file := filepath.Join(work, "sandbox.toml")
	if code, _, errOut := runKprobe("scan", "--from-capture", capture, "--write-profile", file); code != ExitOK && code != ExitBlockers {
		t.Fatalf("scan --write-profile: exit %d\n%s", code, errOut)
	}
	dataDir := filepath.Join(root, "cluster")
	before := tree(t, root, true)
	childrenBefore := children(t)

	run := func(spec string) {
		t.Helper()
		for _, output := range []string{"text", "json", "k3s-config"} {
			code, _, errOut := runKprobe("plan", "--profile", spec, "--output", output, "--data-dir", dataDir)
			if code != ExitOK {
				t.Fatalf("plan --profile %s --output %s: exit %d\n%s", spec, output, code, errOut)
			}
		}
	}
	check := func(what string, withTimes bool) {
		t.Helper()
		after := tree(t, root, withTimes)
		if !slices.Equal(before, after) {
			t.Errorf("%s changed the file system:\nbefore %q\nafter  %q", what, before, after)
		}
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Errorf("%s created the data dir: %v", what, err)
		}
		if after := children(t); !slices.Equal(childrenBefore, after) {
			t.Errorf("%s left processes behind: %v, before %v", what, after, childrenBefore)
		}
	}
	// From a profile, plan touches nothing at all, not even a directory's
	// modification time.
	for _, spec := range []string{"builtin:gvisor-9p", "builtin:docker-privileged", file} {
		run(spec)
	}
	check("plan from a profile", true)
	if testing.Short() {
		t.Log("-short: --profile auto (a real scan) not tried")
		return
	}
	// With auto, the scan's active probes use scratch dirs and children
	// and remove them: nothing is left behind.
	// The one thing a scan keeps is the cache of tools' versions
	// (~/.cache/kprobe/versions.json, docs/scan.md): left out here.
	before = tree(t, root, false)
	run("auto")
	if err := os.RemoveAll(filepath.Join(root, "home", ".cache")); err != nil {
		t.Fatal(err)
	}
	check("plan --profile auto", false)
}

// tree lists every path under root with its mode and size, and with
// withTimes its modification time.
func tree(t *testing.T, root string, withTimes bool) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		e := strings.TrimPrefix(p, root) + " " + info.Mode().String()
		if !info.IsDir() {
			e += " " + strconv.FormatInt(info.Size(), 10)
		}
		if withTimes {
			e += " " + info.ModTime().String()
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// children lists the processes whose parent is this test, from /proc.
func children(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	self := strconv.Itoa(os.Getpid())
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(string(stat)[i+1:]); len(f) > 1 && f[1] == self {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestBuiltinProfilesDocIsCurrent: docs/profiles-builtin.md is generated
// from the built-in profiles; regenerate it with make docs.
func TestBuiltinProfilesDocIsCurrent(t *testing.T) {
	bs, err := profiles.Builtins()
	if err != nil {
		t.Fatal(err)
	}
	want := reports.BuiltinProfilesReference(bs)
	got, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "profiles-builtin.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("docs/profiles-builtin.md is out of date: run make docs (kprobe gendocs --dir docs)\n%s", lineDiff(string(got), string(want)))
	}
}
