package launch

import (
	"context"
	"path/filepath"

	"github.com/kprobe/kprobe/adapters/signatures"
	"github.com/kprobe/kprobe/adapters/upstream"
)

// components whose logs the signatures watch, as the supervisor names them.
var watchedLogs = []string{"containerd", "etcd", "kube-apiserver", "kube-controller-manager",
	"kube-scheduler", "kubelet", "kube-proxy", "k3s"}

func logSources(logDir string) []signatures.Source {
	var out []signatures.Source
	for _, n := range watchedLogs {
		out = append(out, signatures.Source{Path: filepath.Join(logDir, n+".log"), Component: signatures.Component(n)})
	}
	// kube-apiserver, kube-controller-manager and kube-scheduler in one
	// process write one log, and on a single node the kubelet and
	// kube-proxy with them; of the three control-plane components only
	// the API server has signatures.
	one := filepath.Join(logDir, upstream.ControlPlaneProcessName+".log")
	for _, c := range []signatures.Component{signatures.APIServer, signatures.Kubelet, signatures.KubeProxy} {
		out = append(out, signatures.Source{Path: one, Component: c})
	}
	return out
}

// diagnosis turns a signature hit into the ladder's decision input;
// advisory signatures are not failures.
func diagnosis(h signatures.Hit) *Diagnosis {
	s := h.Signature
	if s == nil || s.Action.Kind == signatures.Advisory {
		return nil
	}
	d := &Diagnosis{Code: s.Code, Component: string(h.Log), Line: h.Line, Diagnosis: s.Diagnosis, Fix: s.Fix}
	switch s.Action.Kind {
	case signatures.Remedy:
		d.Remedy, d.Shims = s.Action.Settings, s.Action.Shims
	case signatures.StepDown:
		d.StepDown = true
	}
	d.AtMost = s.Action.AtMost
	return d
}

// WatchSignatures tails the components' logs during a launch and reports
// the first known failure as a *Diagnosis error.
func WatchSignatures(ctx context.Context, logDir string) <-chan error {
	out := make(chan error, 1)
	hits := (&signatures.Watcher{Sources: logSources(logDir)}).Watch(ctx)
	go func() {
		defer close(out)
		for h := range hits {
			if d := diagnosis(h); d != nil {
				out <- d
				return
			}
		}
	}()
	return out
}

// DiagnoseLogs reads a failed attempt's logs for the first known failure.
func DiagnoseLogs(logDir string) *Diagnosis {
	hits, _ := signatures.ScanFiles(logSources(logDir))
	for _, h := range hits {
		if d := diagnosis(h); d != nil {
			return d
		}
	}
	return nil
}
