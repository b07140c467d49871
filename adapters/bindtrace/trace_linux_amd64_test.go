package bindtrace

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary plays three roles, chosen by BINDTRACE_ROLE: the test
// itself, a tracer (as the pod's init helper calls Exec) and the traced
// program.
func TestMain(m *testing.M) {
	switch os.Getenv("BINDTRACE_ROLE") {
	case "tracer":
		own := netip.MustParseAddr(os.Getenv("BINDTRACE_OWN"))
		var env []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "BINDTRACE_ROLE=") {
				env = append(env, e)
			}
		}
		env = append(env, "BINDTRACE_ROLE="+os.Getenv("BINDTRACE_CHILD"))
		code, err := Exec(os.Args[0], os.Args, env, own, nil, Shift{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(code)
	case "server":
		os.Exit(server())
	case "connects":
		os.Exit(connects())
	}
	os.Exit(m.Run())
}

// server listens on all addresses of BINDTRACE_PORT, says where it
// listens and where a connection to 127.0.0.1 arrives, then waits for
// stdin to close.
func server() int {
	l, err := net.Listen("tcp", ":"+os.Getenv("BINDTRACE_PORT"))
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", os.Getenv("BINDTRACE_PORT")))
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	fmt.Println("listening", l.Addr(), "localhost-is", c.RemoteAddr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// connects opens and closes BINDTRACE_N connections to BINDTRACE_ADDR.
func connects() int {
	n, _ := strconv.Atoi(os.Getenv("BINDTRACE_N"))
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", os.Getenv("BINDTRACE_ADDR"))
		if err != nil {
			fmt.Println(err)
			return 1
		}
		c.Close()
	}
	return 0
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

// TestTwoServersOnePort starts two traced servers listening on all
// addresses of the same port: each binds its own address instead, and
// 127.0.0.1 reaches itself.
func TestTwoServersOnePort(t *testing.T) {
	port := freePort(t)
	var stdins []io.Closer
	var cmds []*exec.Cmd
	defer func() {
		for _, s := range stdins {
			s.Close()
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}()
	for _, own := range []string{"127.244.1.2", "127.244.1.3"} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "BINDTRACE_ROLE=tracer", "BINDTRACE_CHILD=server", "BINDTRACE_OWN="+own, "BINDTRACE_PORT="+port)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stdins, cmds = append(stdins, in), append(cmds, cmd)
		line, _ := bufio.NewReader(out).ReadString('\n')
		want := fmt.Sprintf("listening %s:%s localhost-is %s:%s", own, port, own, port)
		// Go listens on a dual-stack socket: the address is IPv4-mapped.
		got := strings.ReplaceAll(strings.TrimSpace(line), "[::ffff:"+own+"]", own)
		if got != want {
			t.Fatalf("traced server said %q, want %q", strings.TrimSpace(line), want)
		}
		// Reached from outside on its own address.
		c, err := net.DialTimeout("tcp", net.JoinHostPort(own, port), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkConnect is the tracer's cost per connection: N connects of a
// child, traced (each connect stops for the tracer) or not. Each round
// starts one child (a fork and exec, the same in both).
func BenchmarkConnect(b *testing.B) {
	// Not 127.0.0.1: the tracer would send that to the child's own address.
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, traced := range []bool{false, true} {
		b.Run(map[bool]string{false: "direct", true: "traced"}[traced], func(b *testing.B) {
			cmd := exec.Command(os.Args[0])
			role := "BINDTRACE_ROLE=connects"
			if traced {
				role = "BINDTRACE_ROLE=tracer"
			}
			cmd.Env = append(os.Environ(), role, "BINDTRACE_CHILD=connects", "BINDTRACE_OWN=127.244.1.4",
				"BINDTRACE_ADDR="+l.Addr().String(), "BINDTRACE_N="+strconv.Itoa(b.N))
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		})
	}
}
