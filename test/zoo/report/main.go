// Command report turns the scans of the sandbox zoo test into research/zoo.md:
// one column per sandbox, one row per fact.
//
//	KPROBE_ZOO=1 go test ./test/zoo/        # writes test/zoo/out/*.json
//	go run ./test/zoo/report -in test/zoo/out -out research/zoo.md
//
// It reads the JSON reports (<sandbox>.json) and zoo-list.txt (the output of
// `test/zoo/zoo list`, for the column order, what each sandbox models and why
// some were skipped). The output depends only on its input: the date comes
// from the reports' generatedAt, not from the clock.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// row is one line of the table: a label and the fact it shows.
type row struct {
	label, key string
}

// rows are the facts compared, in the order of the table. "verdict" is the
// ladder rung.
var rows = []row{
	{"identity", "identity.sandbox"},
	{"root filesystem", "fs.root.type"},
	{"/dev/kmsg", "dev.kmsg"},
	{"cgroup layout", "cgroups.layout"},
	{"cgroups writable", "cgroups.writable"},
	{"user namespace creatable", "ns.user"},
	{"root mappable in it", "ns.user_map_root"},
	{"running in a user namespace", "priv.userns"},
	{"capabilities (CapEff)", "priv.cap_count"},
	{"seccomp", "priv.seccomp"},
	{"overlay mountable (upper on tmpfs)", "overlay.mount_tmpfs"},
	{"overlay on the data dir's filesystem", "overlay.mount_datadir"},
	{"overlay in a new user namespace", "overlay.userns_tmpfs"},
	{"iptables backend (new netns)", "net.iptables_backend"},
	{"container start (best)", "container.best"},
	{"ladder verdict", "verdict"},
}

// scanReport is the part of a kprobe JSON report that the table shows.
type scanReport struct {
	GeneratedAt   time.Time                  `json:"generatedAt"`
	KprobeVersion string                     `json:"kprobeVersion"`
	Facts         map[string]json.RawMessage `json:"facts"`
	Verdict       struct {
		Rung  string `json:"rung"`
		Title string `json:"title"`
	} `json:"verdict"`
}

// sandbox is one line of zoo-list.txt.
type sandbox struct {
	name, model, skip string
}

func main() {
	in := flag.String("in", "test/zoo/out", "directory with the zoo test's <sandbox>.json reports and zoo-list.txt")
	out := flag.String("out", "research/zoo.md", "the Markdown file to write (- for stdout)")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	list, err := readList(filepath.Join(in, "zoo-list.txt"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	reports, err := readReports(in)
	if err != nil {
		return err
	}
	if len(reports) == 0 {
		return fmt.Errorf("no <sandbox>.json reports in %s: run KPROBE_ZOO=1 go test ./test/zoo/ first", in)
	}
	var b strings.Builder
	render(&b, list, reports)
	if out == "-" {
		_, err = io.WriteString(os.Stdout, b.String())
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// readList parses `zoo list`: "name ok model..." or "name skip: reason...".
func readList(path string) ([]sandbox, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var list []sandbox
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		sb := sandbox{name: fields[0]}
		switch fields[1] {
		case "ok":
			sb.model = strings.Join(fields[2:], " ")
		case "skip:":
			sb.skip = strings.Join(fields[2:], " ")
		default:
			return nil, fmt.Errorf("%s: cannot parse %q", path, sc.Text())
		}
		list = append(list, sb)
	}
	return list, sc.Err()
}

func readReports(dir string) (map[string]*scanReport, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	reports := map[string]*scanReport{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r scanReport
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if r.Facts == nil || r.GeneratedAt.IsZero() {
			return nil, fmt.Errorf("%s: not a kprobe scan report (no facts or generatedAt)", f)
		}
		reports[strings.TrimSuffix(filepath.Base(f), ".json")] = &r
	}
	return reports, nil
}

// columns orders the scanned sandboxes as zoo list does; scans that zoo
// list does not name come last, by name.
func columns(list []sandbox, reports map[string]*scanReport) []string {
	var cols []string
	seen := map[string]bool{}
	for _, sb := range list {
		if reports[sb.name] != nil {
			cols = append(cols, sb.name)
			seen[sb.name] = true
		}
	}
	var rest []string
	for name := range reports {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	return append(cols, rest...)
}

func render(w *strings.Builder, list []sandbox, reports map[string]*scanReport) {
	cols := columns(list, reports)
	var first, last time.Time
	versions := map[string]bool{}
	for _, r := range reports {
		t := r.GeneratedAt.UTC()
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
		versions[r.KprobeVersion] = true
	}
	var vs []string
	for v := range versions {
		vs = append(vs, v)
	}
	sort.Strings(vs)

	fmt.Fprintf(w, "# The sandbox zoo: what kprobe sees inside each sandbox\n\n")
	fmt.Fprintf(w, "<!-- Generated file: do not edit. Regenerate with `make zoo-report`. -->\n\n")
	fmt.Fprintf(w, "Generated by `go run ./test/zoo/report -in test/zoo/out -out research/zoo.md` from the\n")
	fmt.Fprintf(w, "`kprobe scan --output json` reports that the zoo test (`make zoo`, test/zoo/zoo_test.go) wrote:\n")
	fmt.Fprintf(w, "%d sandboxes scanned on %s between %s and %s UTC by kprobe %s.\n",
		len(cols), first.Format("2006-01-02"), first.Format("15:04:05"), last.Format("15:04:05"), strings.Join(vs, ", "))
	if h := reports["host"]; h != nil {
		fmt.Fprintf(w, "The host's kernel: %s.\n", h.value("kernel.release"))
	}
	fmt.Fprintf(w, "What each sandbox models and how it is entered: test/zoo/README.md. What the test requires of each\n")
	fmt.Fprintf(w, "cell: test/zoo/expectations.toml. The measurements the zoo was built from: shared/research/sandbox-zoo.md.\n\n")

	// The table.
	fmt.Fprintf(w, "| fact |")
	for _, c := range cols {
		fmt.Fprintf(w, " %s |", c)
	}
	fmt.Fprintf(w, "\n|---|")
	for range cols {
		fmt.Fprintf(w, "---|")
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s (`%s`) |", r.label, r.key)
		for _, c := range cols {
			fmt.Fprintf(w, " %s |", cell(reports[c].value(r.key)))
		}
		fmt.Fprintln(w)
	}

	var skipped []sandbox
	for _, sb := range list {
		if sb.skip != "" && reports[sb.name] == nil {
			skipped = append(skipped, sb)
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "\nNot run on this machine (the test reports them as skipped):\n\n")
		for _, sb := range skipped {
			fmt.Fprintf(w, "* **%s**: %s\n", sb.name, sb.skip)
		}
	}

	fmt.Fprintf(w, "\n## Sandboxes\n\n")
	models := map[string]string{}
	for _, sb := range list {
		models[sb.name] = sb.model
	}
	for _, c := range cols {
		m := models[c]
		if m == "" {
			m = "(not in zoo list)"
		}
		v := reports[c].Verdict
		fmt.Fprintf(w, "* **%s**: %s. Verdict %s: %s.\n", c, m, v.Rung, v.Title)
	}

	fmt.Fprintf(w, "\n## Legend\n\n")
	fmt.Fprintf(w, "* yes / no: kprobe observed it; unknown: kprobe could not look (never a guess at no); -: no such fact in the report.\n")
	fmt.Fprintf(w, "* /dev/kmsg: `readable`, or the errno of opening and reading it (ENOENT: no node; EPERM: denied).\n")
	fmt.Fprintf(w, "* cgroup layout: v1, v2 (unified only), hybrid (v1 controllers plus a cgroup2 mount), none (no cgroupfs mounted).\n")
	fmt.Fprintf(w, "* user namespace creatable: clone(CLONE_NEWUSER) works; root mappable: writing the uid_map `0 <uid> 1` works too.\n")
	fmt.Fprintf(w, "* overlay rows: an overlay mounts in a new mount namespace (without, or with a new user namespace) with its upper dir on a tmpfs or on the data dir's filesystem.\n")
	fmt.Fprintf(w, "* iptables backend: the backend whose filter table takes a chain and a rule in a new network namespace (nft preferred, then legacy; none: neither).\n")
	fmt.Fprintf(w, "* container start: the best runc (libcontainer) container kprobe started: full (with cgroups), no-cgroups, rootless, or none.\n")
	fmt.Fprintf(w, "* ladder verdict: T0 full cluster; T1 degraded worker (fallback snapshotter, shims); T2 worker without kube-proxy, network policy or flannel; T3 control plane only; T4 nothing.\n")
}

// value is what a report says for key, as text.
func (r *scanReport) value(key string) string {
	if key == "verdict" {
		return r.Verdict.Rung
	}
	raw, ok := r.Facts[key]
	if !ok {
		return "-"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, ", ")
	}
	return string(raw)
}

// cell escapes a value for a Markdown table cell.
func cell(s string) string {
	if s == "" {
		return `""`
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
