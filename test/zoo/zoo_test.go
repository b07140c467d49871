package zoo_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/kprobe/kprobe/test/hostcheck"
)

// requiredKeys must be set for every sandbox in expectations.toml: the
// questions the zoo exists to answer. "verdict" is the ladder rung.
var requiredKeys = []string{
	"identity.sandbox", "fs.root.type", "dev.kmsg", "cgroups.layout", "cgroups.writable",
	"ns.user", "ns.user_map_root", "priv.cap_count", "overlay.mount_tmpfs",
	"overlay.mount_datadir", "net.iptables_backend", "container.best", "verdict",
}

// slowFirst are started first: the run takes as long as its slowest scans.
var slowFirst = []string{"podman-rootless", "runc-docker", "podman", "gvisor-run-overlay"}

const howToRun = "run as root: make zoo (or KPROBE_ZOO=1 go test -count=1 -v ./test/zoo/)"

// sandbox is one line of `zoo list`.
type sandbox struct {
	name string
	skip string // why it cannot start here; "" when it can
}

// scanResult is what one `zoo enter <sb> kprobe scan` produced.
type scanResult struct {
	stdout, stderr []byte
	exit           int
	err            error // the command could not run or was killed
	took           time.Duration
	// passive is `kprobe scan --passive` in the same sandbox, run after
	// the full scan: its verdict may never be above the full scan's.
	passive *scanResult
}

// TestZoo runs `kprobe scan --output json` inside every sandbox of the
// zoo and checks the report against expectations.toml. The reports go to
// out/<sandbox>.json (KPROBE_ZOO_OUT), where test/zoo/report reads them.
func TestZoo(t *testing.T) {
	if os.Getenv("KPROBE_ZOO") != "1" {
		t.Skip("the sandbox zoo is opt-in (it installs packages, builds a rootfs and starts containers): " + howToRun)
	}
	if os.Geteuid() != 0 {
		t.Fatal("KPROBE_ZOO=1 but not root; the zoo starts its sandboxes as root: " + howToRun)
	}
	zoo, err := filepath.Abs("zoo")
	if err != nil {
		t.Fatal(err)
	}
	bin := kprobeBinary(t)
	exp := loadExpectations(t, "expectations.toml")
	outDir := envOr("KPROBE_ZOO_OUT", "out")
	// One scan at a time: a full scan starts about twenty re-executed
	// copies of kprobe, whose start now includes the node agent's
	// libraries (virtual-kubelet, k8s.io/apiserver: ~55 ms of package
	// init each); four scans at once on 2 cores ran the namespaces probe
	// into its time limit in the gVisor sandboxes.
	parallel := 1
	if s := os.Getenv("KPROBE_ZOO_PARALLEL"); s != "" {
		if parallel, err = strconv.Atoi(s); err != nil || parallel < 1 {
			t.Fatalf("KPROBE_ZOO_PARALLEL=%q: want a positive number", s)
		}
	}

	start := time.Now()
	if out, err := runZoo(t, 20*time.Minute, zoo, "setup"); err != nil {
		t.Fatalf("zoo setup: %v\n%s", err, out)
	}
	t.Logf("zoo setup took %v", time.Since(start).Round(time.Millisecond))
	// Registered after setup: runs once every subtest is done.
	t.Cleanup(func() {
		if out, err := runZoo(t, 2*time.Minute, zoo, "cleanup"); err != nil {
			t.Errorf("zoo cleanup: %v\n%s", err, out)
		}
	})

	list, raw := listSandboxes(t, zoo)
	known := map[string]bool{}
	for _, sb := range list {
		known[sb.name] = true
	}
	for name := range exp {
		if !known[name] {
			t.Errorf("expectations.toml has [%s], which `zoo list` does not know", name)
		}
	}
	if err := resetOutDir(outDir); err != nil {
		t.Fatal(err)
	}
	// The report generator reads it: column order, models, skip reasons.
	if err := os.WriteFile(filepath.Join(outDir, "zoo-list.txt"), raw, 0o644); err != nil {
		t.Fatal(err)
	}

	// Nothing may stay behind: no mount, cgroup, link, sysctl change,
	// temp file or process (KPROBE_ZOO_HOSTCHECK=0 turns this off on a
	// machine where other work makes kprobe or container state meanwhile).
	hostCheck := os.Getenv("KPROBE_ZOO_HOSTCHECK") != "0"
	watch := hostcheck.Options{Dirs: []string{"/tmp", "/var/tmp", "/var/lib", "/run",
		filepath.Join(envOr("KPROBE_ZOO_CACHE", "/var/cache/kprobe-zoo"), "run")}}
	var before hostcheck.State
	if hostCheck {
		before = takeHost(watch)
	}

	// The scans run concurrently, slowest first, bounded; the subtests
	// then judge them. (Parallel subtests would be capped by -parallel,
	// GOMAXPROCS by default: 2 on the CI machines, while the scans mostly
	// wait for their sandbox to start.)
	var queue []string
	for _, sb := range list {
		if sb.skip == "" {
			queue = append(queue, sb.name)
		}
	}
	rank := func(name string) int {
		if i := slices.Index(slowFirst, name); i >= 0 {
			return i
		}
		return len(slowFirst)
	}
	sort.SliceStable(queue, func(i, j int) bool { return rank(queue[i]) < rank(queue[j]) })
	scans := map[string]*scanResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan string)
	scanStart := time.Now()
	for range min(parallel, len(queue)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range next {
				r := scan(zoo, bin, name)
				r.passive = scan(zoo, bin, name, "--passive")
				mu.Lock()
				scans[name] = r
				mu.Unlock()
			}
		}()
	}
	for _, name := range queue {
		next <- name
	}
	close(next)
	wg.Wait()
	t.Logf("%d scans took %v (%d at a time)", len(queue), time.Since(scanStart).Round(time.Millisecond), parallel)
	if out, err := runZoo(t, 2*time.Minute, zoo, "cleanup"); err != nil {
		t.Errorf("zoo cleanup: %v\n%s", err, out)
	} else if !bytes.Contains(out, []byte("cleanup: 0 item(s) removed")) {
		t.Errorf("zoo cleanup found what the calls left behind:\n%s", out)
	}
	if hostCheck {
		if d := hostcheck.Diff(before, takeHost(watch)); d != "" {
			t.Errorf("the sandboxes left the host changed (KPROBE_ZOO_HOSTCHECK=0 if something else did):\n%s", d)
		}
	}

	for _, sb := range list {
		t.Run(sb.name, func(t *testing.T) {
			if sb.skip != "" {
				t.Skipf("%s cannot start on this machine: %s", sb.name, sb.skip)
			}
			r := scans[sb.name]
			t.Logf("scan took %v, exit %d", r.took.Round(time.Millisecond), r.exit)
			if r.err != nil {
				t.Fatalf("zoo enter %s %s scan: %v\nstderr:\n%s", sb.name, bin, r.err, tail(r.stderr))
			}
			if r.exit != 0 && r.exit != 2 {
				t.Fatalf("kprobe scan exited %d inside %s (0: no blocker, 2: blockers; 125: the zoo failed)\nstderr:\n%s",
					r.exit, sb.name, tail(r.stderr))
			}
			rep, err := parseReport(r.stdout)
			if err != nil {
				t.Fatalf("kprobe scan output is not a report: %v\nstdout:\n%s\nstderr:\n%s", err, tail(r.stdout), tail(r.stderr))
			}
			if err := os.WriteFile(filepath.Join(outDir, sb.name+".json"), r.stdout, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, id := range rep.timedOut() {
				t.Logf("note: probe %s hit a time limit (a busy machine? lower KPROBE_ZOO_PARALLEL)", id)
			}
			want, ok := exp[sb.name]
			if !ok {
				t.Fatalf("expectations.toml has no [%s] table: add one (its report is in %s)",
					sb.name, filepath.Join(outDir, sb.name+".json"))
			}
			for _, m := range check(rep, want) {
				t.Error(m)
			}
			p := r.passive
			t.Logf("passive scan took %v, exit %d", p.took.Round(time.Millisecond), p.exit)
			if p.err != nil || (p.exit != 0 && p.exit != 2) {
				t.Fatalf("kprobe scan --passive inside %s: %v, exit %d\nstderr:\n%s", sb.name, p.err, p.exit, tail(p.stderr))
			}
			pv, err := scanVerdict(p.stdout)
			if err != nil {
				t.Fatalf("kprobe scan --passive output is not a report: %v\n%s", err, tail(p.stdout))
			}
			if msg := passiveProblem(rep.Verdict.Rung, pv); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// ours matches what the zoo, its runtimes and kprobe name after
// themselves: scratch dirs, cgroups, run dirs, mounts, processes.
var ours = regexp.MustCompile(`kprobe|kzoo|runsc|libpod|catatonit|conmon|crun|podman|containers|/run/runc|(^|[ /])runc\b| child `)

// takeHost snapshots the host (test/hostcheck), keeping every sysctl and
// the entries that the zoo, its runtimes or kprobe could have made:
// developers' machines run other builds, tests and clusters beside the zoo.
// Processes are those of our own children and of the runtimes: zoo cleanup
// kills the runtime processes that point into its cache and reports them.
func takeHost(o hostcheck.Options) hostcheck.State {
	s := hostcheck.Take(o)
	for k, v := range s.Sets {
		if k == "sysctls" {
			continue
		}
		keep := v[:0]
		for _, e := range v {
			if ours.MatchString(e) {
				keep = append(keep, e)
			}
		}
		s.Sets[k] = keep
	}
	return s
}

// kprobeBinary is KPROBE_BIN, or ../../bin/kprobe (make build).
func kprobeBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("KPROBE_BIN")
	hint := "set KPROBE_BIN to a kprobe binary"
	if p == "" {
		p, hint = filepath.Join("..", "..", "bin", "kprobe"), "run make build first (or set KPROBE_BIN)"
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		t.Fatalf("no kprobe binary at %s: %v; %s", abs, err, hint)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		t.Fatalf("%s is not an executable file; %s", abs, hint)
	}
	return abs
}

// loadExpectations reads the table: sandbox -> key -> value (a string,
// an integer, a bool, or a list of those meaning "one of").
func loadExpectations(t *testing.T, path string) map[string]map[string]any {
	t.Helper()
	var exp map[string]map[string]any
	md, err := toml.DecodeFile(path, &exp)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("%s: keys outside a sandbox table: %v", path, u)
	}
	for name, keys := range exp {
		for _, k := range requiredKeys {
			if _, ok := keys[k]; !ok {
				t.Errorf("%s: [%s] lacks %q", path, name, k)
			}
		}
		for k, v := range keys {
			if _, err := allowed(v); err != nil {
				t.Errorf("%s: [%s] %q: %v", path, name, k, err)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return exp
}

// allowed turns an expected value into the texts it accepts.
func allowed(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case int64:
		return []string{strconv.FormatInt(x, 10)}, nil
	case bool:
		return []string{strconv.FormatBool(x)}, nil
	case []any:
		var out []string
		for _, e := range x {
			if _, nested := e.([]any); nested {
				return nil, errors.New("a list of lists")
			}
			s, err := allowed(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		if len(out) == 0 {
			return nil, errors.New("an empty list allows nothing")
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value %v (%T)", v, v)
}

// report is the part of kprobe's JSON report the test reads.
type report struct {
	Facts   map[string]json.RawMessage `json:"facts"`
	Verdict struct {
		Rung string `json:"rung"`
	} `json:"verdict"`
	Results []struct {
		ID       string                     `json:"id"`
		Status   string                     `json:"status"`
		Summary  string                     `json:"summary"`
		Facts    map[string]json.RawMessage `json:"facts"`
		Evidence []struct {
			Source  string `json:"source"`
			Excerpt string `json:"excerpt"`
			Errno   string `json:"errno"`
		} `json:"evidence"`
	} `json:"results"`
}

func parseReport(b []byte) (*report, error) {
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if len(r.Facts) == 0 || r.Verdict.Rung == "" {
		return nil, errors.New("no facts or no verdict")
	}
	return &r, nil
}

// value renders what kprobe said for key as text; ok is false when the
// report has no such fact. A fact of a probe the scan skipped (the
// container probe where it cannot change the verdict; the probe's ID is
// the key's first part) reads "skipped".
func (r *report) value(key string) (string, bool) {
	if key == "verdict" {
		return r.Verdict.Rung, true
	}
	raw, ok := r.Facts[key]
	if !ok {
		probe, _, _ := strings.Cut(key, ".")
		for _, res := range r.Results {
			if res.ID == probe && res.Status == "skipped" {
				return "skipped", true
			}
		}
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	return string(raw), true // numbers, bools, null, lists
}

// timedOut lists the probes whose evidence shows a deadline.
func (r *report) timedOut() []string {
	var ids []string
	for _, res := range r.Results {
		for _, e := range res.Evidence {
			if strings.Contains(e.Errno+e.Excerpt, "deadline exceeded") {
				ids = append(ids, res.ID)
				break
			}
		}
	}
	return ids
}

// explain names the probe that set key, with its summary and evidence,
// so that a mismatch shows where to look inside the sandbox.
func (r *report) explain(key string) string {
	for _, res := range r.Results {
		if _, ok := res.Facts[key]; !ok {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "probe %s (%s): %s", res.ID, res.Status, res.Summary)
		for _, e := range res.Evidence {
			fmt.Fprintf(&b, "\n      %s", e.Source)
			if e.Excerpt != "" {
				fmt.Fprintf(&b, ": %s", e.Excerpt)
			}
			if e.Errno != "" {
				fmt.Fprintf(&b, " [%s]", e.Errno)
			}
		}
		return b.String()
	}
	return "no probe result carries this fact"
}

// check compares a report with one sandbox's expectations.
func check(r *report, want map[string]any) []string {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var msgs []string
	for _, k := range keys {
		ok, _ := allowed(want[k])
		got, present := r.value(k)
		if !present {
			msgs = append(msgs, fmt.Sprintf("%s: kprobe reports no such fact; expectations.toml wants %s", k, strings.Join(ok, " or ")))
			continue
		}
		if !slices.Contains(ok, got) {
			msgs = append(msgs, fmt.Sprintf("%s: kprobe says %s, expectations.toml says %s\n    %s",
				k, got, strings.Join(ok, " or "), r.explain(k)))
		}
	}
	return msgs
}

// scan runs kprobe scan inside a sandbox. The probe time limit is raised:
// several sandboxes share two cores, and gVisor on ptrace is slow.
func scan(zoo, bin, name string, extra ...string) *scanResult {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"enter", name, bin, "scan", "--output", "json", "--timeout", "60s"}, extra...)
	cmd := exec.CommandContext(ctx, zoo, args...)
	// SIGTERM lets the zoo stop the sandbox and clean up; SIGKILL later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := &scanResult{stdout: stdout.Bytes(), stderr: stderr.Bytes(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.err = fmt.Errorf("timed out after %v", r.took.Round(time.Second))
	case errors.As(err, &ee):
		r.exit = ee.ExitCode()
	case err != nil:
		r.err = err
	}
	return r
}

func runZoo(t *testing.T, limit time.Duration, zoo string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, zoo, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	return cmd.CombinedOutput()
}

// listSandboxes parses `zoo list`: "name ok model" or "name skip: reason".
func listSandboxes(t *testing.T, zoo string) ([]sandbox, []byte) {
	t.Helper()
	out, err := exec.Command(zoo, "list").Output()
	if err != nil {
		t.Fatalf("zoo list: %v", err)
	}
	var list []sandbox
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		sb := sandbox{name: f[0]}
		switch {
		case f[1] == "ok":
		case f[1] == "skip:":
			sb.skip = strings.Join(f[2:], " ")
			if sb.skip == "" {
				sb.skip = "(no reason given)"
			}
		default:
			t.Fatalf("zoo list: cannot parse %q", sc.Text())
		}
		list = append(list, sb)
	}
	if len(list) == 0 {
		t.Fatalf("zoo list printed no sandbox:\n%s", out)
	}
	return list, out
}

// resetOutDir empties the output of an earlier run, so that the report
// is made from this run only.
func resetOutDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, pat := range []string{"*.json", "zoo-list.txt"} {
		old, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// tail keeps the end of a long output.
func tail(b []byte) string {
	const max = 4000
	if len(b) > max {
		return "..." + string(b[len(b)-max:])
	}
	return string(b)
}
