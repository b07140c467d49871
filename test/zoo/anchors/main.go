// Command anchors runs kprobe's full scan beside the checkers users run
// today (runc's check-config.sh, kubeadm's preflight, systemd-detect-virt,
// virt-what) inside every zoo sandbox, reduces each output to a verdict
// (rules.go), judges it against the rung a real launch reached there
// (judge.go) and writes research/anchors.md.
//
//	make zoo-anchors                                    # root; under the host lock
//	go run ./test/zoo/anchors -sandboxes host,bwrap     # a few; the page from every capture in -out
//	go run ./test/zoo/anchors -render-only              # the page from the captures alone
//
// The checkers are staged in one directory that the zoo binds into the
// sandbox (KPROBE_ZOO_BIN_DIR): kprobe and kprobe-probe, in-sandbox.sh,
// check-config.sh, kubeadm.yaml, bin/ (kubeadm, the engine's kubelet that
// kubeadm checks, virt-what, its cpuid helper, dmidecode) and lib/
// (systemd-detect-virt with the host's loader and libraries).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// capture is what every checker printed in one sandbox.
type capture struct {
	Sandbox    string    `json:"sandbox"`
	Model      string    `json:"model"`
	CapturedAt time.Time `json:"capturedAt"`
	Runs       []run     `json:"runs"`
}

type options struct {
	zoo, kprobe, kubeadm, kubelet, checkConfig, script string
	out, page, launches                                string
	sandboxes                                          string
	renderOnly                                         bool
}

func main() {
	var o options
	flag.StringVar(&o.zoo, "zoo", "test/zoo/zoo", "the zoo")
	flag.StringVar(&o.kprobe, "kprobe", "bin/kprobe", "kprobe (kprobe-probe beside it)")
	flag.StringVar(&o.kubeadm, "kubeadm", "bin/anchors/kubeadm", "kubeadm (test/zoo/anchors/build-kubeadm.sh)")
	flag.StringVar(&o.kubelet, "kubelet", "bin/engine/kubelet", "the kubelet kubeadm's preflight checks")
	flag.StringVar(&o.checkConfig, "check-config", "", "check-config.sh (default: runc's, from the Go module cache)")
	flag.StringVar(&o.script, "script", "test/zoo/anchors/in-sandbox.sh", "the script run inside each sandbox")
	flag.StringVar(&o.out, "out", "test/zoo/out/anchors", "directory for the captures (<sandbox>.json)")
	flag.StringVar(&o.page, "page", "research/anchors.md", "the page to write")
	flag.StringVar(&o.launches, "launches", "test/zoo/launch_test.go", "the launch cases (the truth)")
	flag.StringVar(&o.sandboxes, "sandboxes", "", "comma-separated sandboxes (default: every ok one)")
	flag.BoolVar(&o.renderOnly, "render-only", false, "write the page from the captures in -out only")
	flag.Parse()
	if err := runAll(o); err != nil {
		fmt.Fprintln(os.Stderr, "anchors:", err)
		os.Exit(1)
	}
}

func runAll(o options) error {
	if !o.renderOnly {
		if err := captureAll(o); err != nil {
			return err
		}
	}
	truths, err := launchTruth(o.launches)
	if err != nil {
		return err
	}
	caps, err := readCaptures(o.out)
	if err != nil {
		return err
	}
	var b strings.Builder
	render(&b, caps, truths)
	return os.WriteFile(o.page, []byte(b.String()), 0o644)
}

func captureAll(o options) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root (the zoo needs it), under flock /tmp/kprobe-host.lock")
	}
	list, err := exec.Command(o.zoo, "list").Output()
	if err != nil {
		return fmt.Errorf("zoo list: %w", err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	models := map[string]string{}
	var names []string
	for _, line := range strings.Split(string(list), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[1] != "ok" {
			continue
		}
		models[f[0]] = strings.Join(f[2:], " ")
		if o.sandboxes == "" {
			names = append(names, f[0])
		}
	}
	if o.sandboxes != "" {
		names = strings.Split(o.sandboxes, ",")
	}
	stage, err := makeStage(o)
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for _, sb := range names {
		if _, ok := models[sb]; !ok {
			return fmt.Errorf("sandbox %s is not ok in zoo list", sb)
		}
		c := capture{Sandbox: sb, Model: models[sb], CapturedAt: time.Now().UTC()}
		for _, ch := range checkers {
			r := enter(o.zoo, stage, sb, ch)
			fmt.Fprintf(os.Stderr, "%s %s: exit %d in %.1f s %s\n", sb, ch, r.Exit, r.Seconds, r.Err)
			c.Runs = append(c.Runs, r)
		}
		data, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(o.out, sb+".json"), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// enter runs one checker in one sandbox. SIGTERM at the limit lets the zoo
// stop the sandbox and clean up.
func enter(zoo, stage, sandbox, checker string) run {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, zoo, "enter", sandbox, filepath.Join(stage, "in-sandbox.sh"), checker)
	cmd.Env = append(os.Environ(), "KPROBE_ZOO_BIN_DIR="+stage)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := run{Checker: checker, Stdout: stdout.String(), Stderr: stderr.String(), Seconds: time.Since(start).Seconds()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.Err = "timed out"
	case errors.As(err, &ee):
		r.Exit = ee.ExitCode()
		if r.Exit == 125 {
			r.Err = "the zoo failed: " + firstLine(r.Stderr)
		}
	case err != nil:
		r.Err = err.Error()
	}
	return r
}

// makeStage puts every checker into one directory under /tmp that the
// zoo user can read (hard links where the file system allows).
func makeStage(o options) (string, error) {
	stage, err := os.MkdirTemp("/tmp", "kprobe-anchors-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return stage, err
	}
	checkConfig := o.checkConfig
	if checkConfig == "" {
		dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/opencontainers/runc").Output()
		if err != nil {
			return stage, fmt.Errorf("runc's module (go mod download): %w", err)
		}
		checkConfig = filepath.Join(strings.TrimSpace(string(dir)), "script", "check-config.sh")
	}
	files := map[string]string{
		"kprobe":                     o.kprobe,
		"kprobe-probe":               filepath.Join(filepath.Dir(o.kprobe), "kprobe-probe"),
		"in-sandbox.sh":              o.script,
		"check-config.sh":            checkConfig,
		"bin/kubeadm":                o.kubeadm,
		"bin/kubelet":                o.kubelet,
		"bin/virt-what":              "/usr/sbin/virt-what",
		"bin/virt-what-cpuid-helper": "/usr/libexec/virt-what-cpuid-helper",
		"bin/dmidecode":              "/usr/sbin/dmidecode",
		"lib/systemd-detect-virt":    "/usr/bin/systemd-detect-virt",
	}
	libs, err := sharedLibs("/usr/bin/systemd-detect-virt")
	if err != nil {
		return stage, err
	}
	for _, l := range libs {
		files["lib/"+filepath.Base(l)] = l
	}
	for dst, src := range files {
		if err := place(src, filepath.Join(stage, dst)); err != nil {
			return stage, err
		}
	}
	// kubeadm's version without a lookup on the network.
	cfg := "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: " + kubeadmVersion(o.kubeadm) + "\n"
	return stage, os.WriteFile(filepath.Join(stage, "kubeadm.yaml"), []byte(cfg), 0o644)
}

func kubeadmVersion(kubeadm string) string {
	out, err := exec.Command(kubeadm, "version", "-o", "short").Output()
	if err != nil {
		return "v1.37.2"
	}
	return strings.TrimSpace(string(out))
}

var lddPath = regexp.MustCompile(`(/\S+) \(0x`)

// sharedLibs are the libraries (and the loader) ldd lists for a binary.
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := lddPath.FindStringSubmatch(sc.Text()); m != nil {
			libs = append(libs, m[1])
		}
	}
	return libs, nil
}

// place hard-links src to dst, or copies it (mode kept).
func place(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	src, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func readCaptures(dir string) ([]capture, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var caps []capture
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var c capture
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		caps = append(caps, c)
	}
	if len(caps) == 0 {
		return nil, fmt.Errorf("no captures in %s", dir)
	}
	// The host first, the sandboxes by name.
	slices.SortFunc(caps, func(a, b capture) int {
		if (a.Sandbox == "host") != (b.Sandbox == "host") {
			if a.Sandbox == "host" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Sandbox, b.Sandbox)
	})
	return caps, nil
}
