// Package archtest holds the test that keeps kprobe's imports running in
// one direction (docs/architecture.md):
//
//	probes < profiles < adapters < reports < cmd
//
// A package may import its own layer and the layers below it, never one
// above. The renderers (adapters/upstream, adapters/k3s) turn a plan into
// process specs and files and import nothing that executes, not even
// through another package.
package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/kprobe/kprobe"

// layers in import order: an entry may import the entries before it.
var layers = []string{"probes", "profiles", "adapters", "reports", "cmd"}

// renderers render a plan; executing lists what they must not reach.
var (
	renderers = []string{"adapters/upstream", "adapters/k3s"}
	executing = []string{"adapters/supervise", "adapters/hoststate", "adapters/install", "adapters/launch"}
)

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// load lists every package of the module with `go list`, keyed by its
// path inside the module ("adapters/launch").
func load(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		rel, ok := local(p.ImportPath)
		if !ok {
			continue
		}
		pkgs[rel] = p
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages of %s; run the test inside the module", len(pkgs), module)
	}
	return pkgs
}

// local strips the module path; ok is false for packages of other modules.
func local(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// layer is the index of the layer a package belongs to, or -1 for the
// packages outside the layers (test/, hack/), which may import anything.
func layer(rel string) int {
	top, _, _ := strings.Cut(rel, "/")
	for i, l := range layers {
		if top == l {
			return i
		}
	}
	return -1
}

func TestImportsRunDownward(t *testing.T) {
	for rel, p := range load(t) {
		from := layer(rel)
		if from < 0 {
			continue
		}
		for _, imports := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
			for _, imp := range imports {
				to, ok := local(imp)
				if !ok {
					continue
				}
				if l := layer(to); l > from {
					t.Errorf("%s (layer %s) imports %s (layer %s): imports run %s",
						rel, layers[from], to, layers[l], strings.Join(layers, " < "))
				}
			}
		}
	}
}

func TestRenderersDoNotExecute(t *testing.T) {
	pkgs := load(t)
	for _, r := range renderers {
		if _, ok := pkgs[r]; !ok {
			t.Fatalf("renderer %s not found", r)
		}
		for _, path := range reach(pkgs, r) {
			dep := path[len(path)-1]
			for _, e := range executing {
				if dep == e {
					t.Errorf("renderer %s reaches %s, which executes: %s", r, e, strings.Join(path, " -> "))
				}
			}
		}
	}
}

// reach returns, for every module package that from imports directly or
// through others (test files not counted), one import path leading to it.
func reach(pkgs map[string]pkg, from string) [][]string {
	seen := map[string][]string{from: {from}}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, imp := range pkgs[cur].Imports {
			to, ok := local(imp)
			if !ok {
				continue
			}
			if _, done := seen[to]; done {
				continue
			}
			seen[to] = append(append([]string(nil), seen[cur]...), to)
			queue = append(queue, to)
		}
	}
	var out [][]string
	for dep, path := range seen {
		if dep != from {
			out = append(out, path)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][len(out[i])-1] < out[j][len(out[j])-1] })
	return out
}

// kubeFree are the packages that render scans, launches and soaks: they
// must link no Kubernetes library (k8s.io/...), so that the commands built
// on them (scan, report) start without client-go's package init and its
// megabytes of text (research/scan-speed.md). A launch's and a soak's
// records are plain data in adapters/launchresult and adapters/soakresult
// for that reason.
// adapters/launchhost holds what plan, scan and version look up on the
// host for a launch, for the same reason.
var kubeFree = []string{"reports", "reports/tui", "adapters/launchresult", "adapters/soakresult", "adapters/launchhost"}

func TestRenderersLinkNoKubernetes(t *testing.T) {
	pkgs := load(t)
	for _, r := range kubeFree {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+"/"+r).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", r, err)
		}
		var kube []string
		for _, dep := range strings.Fields(string(out)) {
			if isKube(dep) {
				kube = append(kube, dep)
			}
		}
		if len(kube) == 0 {
			continue
		}
		// Name the module packages on the way that import one directly.
		var via []string
		for _, path := range append(reach(pkgs, r), []string{r}) {
			for _, imp := range pkgs[path[len(path)-1]].Imports {
				if isKube(imp) {
					via = append(via, strings.Join(path, " -> ")+" -> "+imp)
					break
				}
			}
		}
		t.Errorf("%s links %d k8s.io packages (first %s); imported through: %s",
			r, len(kube), kube[0], strings.Join(via, "; "))
	}
}

// isKube says whether an import path is a Kubernetes library.
func isKube(path string) bool {
	return strings.HasPrefix(path, "k8s.io/") || strings.HasPrefix(path, "sigs.k8s.io/")
}

// TestLightKprobeLinksNoKubernetes: bin/kprobe is built with -tags
// nocluster (Makefile build) and must link no Kubernetes library, so that
// a scan starts without client-go's package init and pages (11 MiB peak
// RSS against 37, research/scan-speed.md session 10); the cluster
// commands run in kprobe-cluster. A new import that brings one in names
// the package that does.
func TestLightKprobeLinksNoKubernetes(t *testing.T) {
	pkg := module + "/cmd/kprobe"
	out, err := exec.Command("go", "list", "-tags", "nocluster", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -tags nocluster -deps %s: %v", pkg, err)
	}
	var kube, via []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if isKube(f[0]) {
			kube = append(kube, f[0])
			continue
		}
		for _, imp := range f[1:] {
			if isKube(imp) {
				via = append(via, f[0]+" -> "+imp)
			}
		}
	}
	if len(kube) > 0 {
		t.Errorf("%s (-tags nocluster) links %d Kubernetes packages (first %s), imported by: %s",
			pkg, len(kube), kube[0], strings.Join(via, "; "))
	}
}
