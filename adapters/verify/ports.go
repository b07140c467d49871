package verify

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// The checks of the ports a user reaches from the sandbox's shell (issue
// 14): kubectl port-forward to a Service, and a NodePort.

// httpGet sends a small HTTP/1.0 request to addr and returns the answer.
func httpGet(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(c, 64<<10))
	return string(b), err
}

// retryGet fetches addr until the answer holds want or 30 s pass.
func (r *runner) retryGet(addr, want string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := httpGet(r.ctx, addr)
		if err == nil && strings.Contains(out, want) {
			return out, nil
		}
		if time.Now().After(deadline) || r.ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("%s answered %q", addr, firstLines(out, 2))
			}
			return out, err
		}
		time.Sleep(time.Second)
	}
}

var forwardingFrom = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+)`)

// checkPortForward runs `kubectl port-forward svc/web :80` and fetches the
// page through the local port kubectl chose.
func (r *runner) checkPortForward() (string, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.o.Kubectl, "--kubeconfig", r.o.Kubeconfig, "-n", r.o.Namespace,
		"port-forward", "svc/web", ":80", "--address", "127.0.0.1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		return "", err
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := forwardingFrom.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
		close(port)
	}()
	var p string
	select {
	case p = <-port:
	case <-ctx.Done():
	}
	if p == "" {
		return "", fmt.Errorf("kubectl port-forward svc/web :80 did not say where it listens: %s", strings.TrimSpace(errb.String()))
	}
	page, err := r.retryGet("127.0.0.1:"+p, "verify-ok")
	return fmt.Sprintf("kubectl port-forward svc/web :80 -> 127.0.0.1:%s: %s %s", p, firstLines(page, 1), lastLine(page)), err
}

// nodePortManifest is the Service web-nodeport: a NodePort for web.
func nodePortManifest(ns string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: web-nodeport, namespace: %s}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`, ns)
}

// checkNodePort exposes web on a NodePort and fetches its page from here
// (the sandbox's shell) on the address of the node that runs the pod.
func (r *runner) checkNodePort() (string, error) {
	ns := r.o.Namespace
	if _, err := r.kubectl(nodePortManifest(ns), "apply", "-f", "-"); err != nil {
		return "", err
	}
	port, err := r.kubectl("", "-n", ns, "get", "service", "web-nodeport", "-o", "jsonpath={.spec.ports[0].nodePort}")
	if err != nil {
		return "", err
	}
	node, err := r.kubectl("", "-n", ns, "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].status.hostIP}")
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort(strings.TrimSpace(node), strings.TrimSpace(port))
	page, err := r.retryGet(addr, "verify-ok")
	return fmt.Sprintf("service web-nodeport: GET http://%s/ from the sandbox: %s %s", addr, firstLines(page, 1), lastLine(page)), err
}
