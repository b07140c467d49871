package podnode

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probe runs the container's startup, liveness and readiness probes for the
// pod's life, as the kubelet's prober does: the startup probe gates the
// others; a failed liveness probe restarts the container; readiness sets
// the container's Ready.
func (c *ctr) probe() {
	type state struct {
		p          *corev1.Probe
		ok, failed int
		next       time.Time
	}
	var runStart time.Time
	var startup, live, ready *state
	reset := func(start time.Time) {
		runStart = start
		mk := func(p *corev1.Probe) *state {
			if p == nil {
				return nil
			}
			return &state{p: p, next: start.Add(time.Duration(p.InitialDelaySeconds) * time.Second)}
		}
		startup, live, ready = mk(c.spec.StartupProbe), mk(c.spec.LivenessProbe), mk(c.spec.ReadinessProbe)
	}
	if c.spec.StartupProbe == nil && c.spec.LivenessProbe == nil && c.spec.ReadinessProbe == nil {
		return
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.r.ctx.Done():
			return
		case <-tick.C:
		}
		c.mu.Lock()
		running := c.state.Running
		started := c.started
		c.mu.Unlock()
		if running == nil {
			continue
		}
		if !running.StartedAt.Time.Equal(runStart) {
			reset(running.StartedAt.Time)
		}
		now := time.Now()
		run := func(s *state, kind string) (result, changed bool) {
			if s == nil || now.Before(s.next) {
				return false, false
			}
			period := time.Duration(max(s.p.PeriodSeconds, 1)) * time.Second
			s.next = now.Add(period)
			err := c.check(s.p)
			success, failure := int(max(s.p.SuccessThreshold, 1)), int(max(s.p.FailureThreshold, 1))
			if err == nil {
				s.ok++
				s.failed = 0
				return true, s.ok == success
			}
			s.failed++
			s.ok = 0
			c.r.event(corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %v", kind, err)
			return false, s.failed == failure
		}
		if startup != nil && !started {
			if ok, changed := run(startup, "Startup"); changed {
				if ok {
					c.mu.Lock()
					c.started = true
					if c.spec.ReadinessProbe == nil {
						c.ready = true
					}
					c.mu.Unlock()
					c.r.changed()
				} else {
					c.killForProbe("startup")
				}
			}
			continue
		}
		if ok, changed := run(live, "Liveness"); changed && !ok {
			c.killForProbe("liveness")
			continue
		}
		if ok, changed := run(ready, "Readiness"); changed {
			c.mu.Lock()
			c.ready = ok && c.state.Running != nil
			c.mu.Unlock()
			c.r.changed()
		}
	}
}

func (c *ctr) killForProbe(kind string) {
	c.r.event(corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", c.spec.Name, kind)
	select {
	case c.kill <- struct{}{}:
	default:
	}
}

// check runs one probe: exec in the container, HTTP GET or TCP connect on
// the pod's (the sandbox's) address.
func (c *ctr) check(p *corev1.Probe) error {
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(c.r.ctx, timeout)
	defer cancel()
	switch {
	case p.Exec != nil:
		spec, err := c.execSpec(p.Exec.Command)
		if err != nil {
			return err
		}
		var out bytes.Buffer
		proc, err := startProcess(spec, nil, &out, &out, nil)
		if err != nil {
			return err
		}
		if code := waitOrKill(ctx, proc); code != 0 {
			return fmt.Errorf("command %q exited with %d: %.200s", p.Exec.Command, code, out.String())
		}
		return nil
	case p.HTTPGet != nil:
		g := p.HTTPGet
		port, err := c.port(g.Port)
		if err != nil {
			return err
		}
		host := g.Host
		if host == "" {
			host = c.r.probeHost()
		}
		scheme := "http"
		if g.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), g.Path), nil)
		if err != nil {
			return err
		}
		for _, h := range g.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		req.Header.Set("User-Agent", "kube-probe/1.37")
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the kubelet does not verify probe certificates either
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case p.TCPSocket != nil:
		port, err := c.port(p.TCPSocket.Port)
		if err != nil {
			return err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = c.r.probeHost()
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case p.GRPC != nil:
		return fmt.Errorf("gRPC probes are not supported by process pods")
	}
	return fmt.Errorf("probe has no handler")
}

// port resolves a probe's port, by number or by the container's port name.
func (c *ctr) port(p intstr.IntOrString) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.spec.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q is not a port of container %s", p.StrVal, c.spec.Name)
}
