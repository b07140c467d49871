//go:build linux

package sysctltrace

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// BenchmarkRedirector is the ptrace redirector's cost per open(2) and per
// other syscall, in a Go program making b.N of them, against the same
// program without a tracer.
func BenchmarkRedirector(b *testing.B) {
	if !traceSupported {
		b.Skip("amd64 only")
	}
	null, _ := os.Open(os.DevNull)
	defer null.Close()
	fakes := map[string]string{"kernel.kprobe_bench_missing": "1"}
	for _, work := range []string{"opens", "getpid"} {
		for _, mode := range []string{"none", "seccomp", "syscall"} {
			b.Run(fmt.Sprintf("%s/%s", work, mode), func(b *testing.B) {
				argv := []string{os.Args[0], "trace-test-" + work, strconv.Itoa(b.N)}
				if work == "opens" {
					argv = append(argv, "/proc/sys/kernel/ostype")
				}
				if mode == "none" {
					c := exec.Command(argv[0], argv[1:]...)
					b.ResetTimer()
					if out, err := c.CombinedOutput(); err != nil {
						b.Fatalf("%v %s", err, out)
					}
					return
				}
				r := &Redirector{Fakes: fakes, Self: os.Args[0], Mode: mode}
				b.ResetTimer()
				code, err := r.Run(context.Background(), argv, os.Environ(), []*os.File{null, null, os.Stderr})
				if err != nil || code != 0 {
					b.Fatalf("code %d: %v", code, err)
				}
				b.ReportMetric(float64(r.Stats.Stops)/float64(b.N), "stops/op")
			})
		}
	}
}
