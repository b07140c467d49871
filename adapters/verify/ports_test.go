package verify

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
)

// TestHTTPGetAndForwardLine: the page is fetched from a real listener, and
// kubectl port-forward's first line gives the local port.
func TestHTTPGetAndForwardLine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 512)
		_, _ = c.Read(buf)
		_, _ = io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nverify-ok\n")
		c.Close()
	}()
	out, err := httpGet(context.Background(), l.Addr().String())
	if err != nil || !strings.Contains(out, "verify-ok") {
		t.Fatalf("httpGet: %q, %v", out, err)
	}
	m := forwardingFrom.FindStringSubmatch("Forwarding from 127.0.0.1:40817 -> 8080")
	if m == nil || m[1] != "40817" {
		t.Errorf("port-forward line: %v", m)
	}
}
