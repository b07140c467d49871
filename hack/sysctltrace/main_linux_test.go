//go:build linux

package sysctltrace

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMain serves the re-exec'd helper (TraceExecArg) and the programs
// the tests and benchmarks run under the tracer.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == TraceExecArg {
		os.Exit(TraceExecMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "trace-test-") {
		os.Exit(helperMain(os.Args[1], os.Args[2:]))
	}
	os.Exit(m.Run())
}

func helperMain(mode string, args []string) int {
	switch mode {
	case "trace-test-cat": // print each file's first line
		for _, p := range args {
			b, err := os.ReadFile(p)
			if err != nil {
				fmt.Printf("%s=error: %v\n", p, err)
				continue
			}
			fmt.Printf("%s=%s\n", p, strings.TrimSpace(string(b)))
		}
		return 0
	case "trace-test-opens": // N PATH: open and close PATH N times
		n, _ := strconv.Atoi(args[0])
		for i := 0; i < n; i++ {
			fd, err := syscall.Open(args[1], syscall.O_RDONLY, 0)
			if err == nil {
				syscall.Close(fd)
			}
		}
		return 0
	case "trace-test-getpid": // N: N cheap syscalls that are not opens
		n, _ := strconv.Atoi(args[0])
		for i := 0; i < n; i++ {
			syscall.Getppid()
		}
		return 0
	}
	return 2
}
