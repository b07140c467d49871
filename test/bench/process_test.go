// Package bench measures kprobe as a user runs it: whole processes, exec'd
// from the built binaries, alternated in one run with a shell checker of
// the same kind, so that the README's figures are the ones a user waits
// for. The in-process benchmarks (probes/suite) stay for profiling.
package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sample is one whole-process run.
type sample struct {
	wall, cpu time.Duration
	maxRSS    int64 // bytes, of the largest process of the run's tree
}

type command struct {
	name string
	argv []string
	ok   func(code int) bool
	runs []sample
}

// BenchmarkWholeProcess runs, per iteration and in this order, a full
// `kprobe scan`, a passive one and the comparison checker, and reports
// the medians: wall time, CPU time (user+system of the process and its
// children) and peak RSS (the largest process of the tree).
//
//	make bench-process
//
// It needs bin/kprobe and bin/kprobe-probe (make build), or KPROBE_BIN
// naming kprobe (KPROBE_BASELINE_BIN adds a second build to the
// alternation); the comparison is KPROBE_CHECK_CONFIG, else runc's
// script/check-config.sh from the Go module cache (runc is a dependency of
// kprobe, so `go mod download` brings it). The scans touch the host like
// any scan (active probes): run it under the host lock in shared CI;
// KPROBE_BENCH_PASSIVE=1 keeps the passive scans only, which need none.
func BenchmarkWholeProcess(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("kprobe scans Linux")
	}
	kprobe := kprobeBinary(b)
	checker := checkConfig(b)
	cmds := []*command{
		{name: "full", argv: []string{kprobe, "scan", "--no-tui", "-o", "json"}, ok: scanExit},
		{name: "passive", argv: []string{kprobe, "scan", "--no-tui", "--passive", "-o", "json"}, ok: scanExit},
		// The checker fails (non-zero) for each kernel option it misses.
		{name: "checkconfig", argv: []string{"bash", checker}, ok: func(int) bool { return true }},
	}
	// KPROBE_BASELINE_BIN names another build (say of the previous
	// commit): its scans join the same alternation, so that a change is
	// judged side by side under the same load.
	if base := os.Getenv("KPROBE_BASELINE_BIN"); base != "" {
		cmds = append(cmds,
			&command{name: "base-full", argv: []string{base, "scan", "--no-tui", "-o", "json"}, ok: scanExit},
			&command{name: "base-passive", argv: []string{base, "scan", "--no-tui", "--passive", "-o", "json"}, ok: scanExit})
	}
	// KPROBE_BENCH_PASSIVE=1 runs the passive scans alone: they only read
	// the host, so they need no host lock.
	if os.Getenv("KPROBE_BENCH_PASSIVE") == "1" {
		var passive []*command
		for _, c := range cmds {
			if strings.HasSuffix(c.name, "passive") {
				passive = append(passive, c)
			}
		}
		cmds = passive
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range cmds {
			s, err := run(c)
			if err != nil {
				b.Fatal(err)
			}
			c.runs = append(c.runs, s)
		}
	}
	b.StopTimer()
	med := map[string]sample{}
	for _, c := range cmds {
		med[c.name] = median(c.runs)
	}
	if _, ok := med["full"]; ok {
		b.ReportMetric(ms(med["full"].wall), "full-ms")
		b.ReportMetric(ms(med["checkconfig"].wall), "checkconfig-ms")
		b.ReportMetric(float64(med["full"].maxRSS)/(1<<20), "full-MiB")
		b.ReportMetric(ms(med["checkconfig"].wall)/ms(med["full"].wall), "full-speedup-x")
	}
	b.ReportMetric(ms(med["passive"].wall), "passive-ms")
	b.ReportMetric(float64(med["passive"].maxRSS)/(1<<20), "passive-MiB")
	if base, ok := med["base-full"]; ok {
		b.ReportMetric(ms(base.wall)/ms(med["full"].wall), "full-vs-base-x")
	}
	if base, ok := med["base-passive"]; ok {
		b.ReportMetric(ms(base.wall)/ms(med["passive"].wall), "passive-vs-base-x")
	}
	var t strings.Builder
	fmt.Fprintf(&t, "medians of %d alternating runs (%s; checker %s)\n", b.N, kprobe, checker)
	fmt.Fprintf(&t, "| command | wall | CPU | peak RSS |\n|---|---|---|---|\n")
	for _, c := range cmds {
		m := med[c.name]
		fmt.Fprintf(&t, "| %s %s | %.0f ms | %.0f ms | %.0f MiB |\n", c.argv[0], strings.Join(c.argv[1:], " "), ms(m.wall), ms(m.cpu), float64(m.maxRSS)/(1<<20))
	}
	b.Log("\n" + t.String())
}

// scanExit accepts kprobe scan's answers: 0 no blocker, 2 blockers.
func scanExit(code int) bool { return code == 0 || code == 2 }

func run(c *command) (sample, error) {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return sample{}, fmt.Errorf("%s: %v", c.name, err)
	}
	if !c.ok(cmd.ProcessState.ExitCode()) {
		return sample{}, fmt.Errorf("%s exited %d: %s", strings.Join(c.argv, " "), cmd.ProcessState.ExitCode(), lastLines(errb.String()))
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	s := sample{wall: wall}
	if ru != nil {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		s.maxRSS = ru.Maxrss << 10 // kilobytes on Linux
	}
	return s, nil
}

func median(runs []sample) sample {
	pick := func(get func(sample) int64) int64 {
		v := make([]int64, len(runs))
		for i, r := range runs {
			v[i] = get(r)
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[len(v)/2]
	}
	return sample{
		wall:   time.Duration(pick(func(s sample) int64 { return int64(s.wall) })),
		cpu:    time.Duration(pick(func(s sample) int64 { return int64(s.cpu) })),
		maxRSS: pick(func(s sample) int64 { return s.maxRSS }),
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}

func kprobeBinary(b *testing.B) string {
	path := os.Getenv("KPROBE_BIN")
	if path == "" {
		path, _ = filepath.Abs("../../bin/kprobe")
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no kprobe binary (%v): run make build, or set KPROBE_BIN", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "kprobe-probe")); err != nil {
		b.Logf("no kprobe-probe next to %s: the active probes re-execute kprobe (slower)", path)
	}
	return path
}

// checkConfig finds the comparison checker: a shell script that greps the
// kernel config, as k3s' and runc's check-config do.
func checkConfig(b *testing.B) string {
	if p := os.Getenv("KPROBE_CHECK_CONFIG"); p != "" {
		return p
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/opencontainers/runc").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		b.Skipf("runc's module is not in the module cache (go mod download): %v", err)
	}
	p := filepath.Join(dir, "script", "check-config.sh")
	if _, err := os.Stat(p); err != nil {
		b.Skipf("no check-config.sh: %v", err)
	}
	return p
}
