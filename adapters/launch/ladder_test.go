package launch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kprobe/kprobe/adapters"
	"github.com/kprobe/kprobe/adapters/signatures"
	"github.com/kprobe/kprobe/probes"
	"github.com/kprobe/kprobe/profiles"
)

// TestLadderDecisions drives the ladder's decisions with scripted attempt
// outcomes: the engines themselves are tested end to end in test/e2e.
func TestLadderDecisions(t *testing.T) {
	prof := &profiles.Profile{Facts: probes.Facts{}}
	kmsg := &Diagnosis{Code: "SIG-KMSG", Component: "kubelet", Line: "open /dev/kmsg: no such file or directory",
		Diagnosis: "no /dev/kmsg", Fix: "the kmsg shim", Shims: []adapters.Shim{{Name: "kmsg"}}}
	netfail := &Diagnosis{Code: "SIG-IPT", Component: "kube-proxy", Line: "iptables: Protocol not supported",
		Diagnosis: "no iptables", Fix: "drop kube-proxy", StepDown: true}
	var seen []string
	script := []error{kmsg, netfail, nil}
	run := func(_ context.Context, plan *adapters.Plan, _ Options) (*Result, error) {
		shims := []string{}
		for _, s := range plan.Shims {
			shims = append(shims, s.Name)
		}
		seen = append(seen, string(plan.Rung)+":"+strings.Join(shims, ","))
		err := script[0]
		script = script[1:]
		return &Result{Rung: string(plan.Rung)}, err
	}
	var say strings.Builder
	attempts, err := Ladder(context.Background(), prof, Options{DataDir: t.TempDir()},
		LadderOptions{Run: run, Say: &say}, profiles.T0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"T0:", "T0:kmsg", "T1:kmsg"}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Fatalf("attempts %v, want %v", seen, want)
	}
	if len(attempts) != 3 || attempts[0].Diagnosis.Code != "SIG-KMSG" || !attempts[2].Ready {
		t.Fatalf("attempts %+v", attempts)
	}
	if !strings.Contains(say.String(), "stepping down to T1") || !strings.Contains(say.String(), "open /dev/kmsg") {
		t.Errorf("the user was not told:\n%s", say.String())
	}

	// An unknown failure ends the ladder with its error; so does the end of it.
	script = []error{errors.New("something new")}
	attempts, err = Ladder(context.Background(), prof, Options{DataDir: t.TempDir()}, LadderOptions{Run: run}, profiles.T0)
	if err == nil || len(attempts) != 1 || attempts[0].Diagnosis != nil {
		t.Fatalf("unknown failure: %v %+v", err, attempts)
	}
	// A signature that only the control plane avoids jumps there at once.
	nocpus := &Diagnosis{Code: "SIG-NO-SYSFS-CPUS", Component: "kubelet", Line: "could not detect number of cpus",
		Diagnosis: "no /sys", Fix: "give the sandbox /sys", StepDown: true, AtMost: profiles.T3}
	seen, script = nil, []error{nocpus, nil}
	if _, err := Ladder(context.Background(), prof, Options{DataDir: t.TempDir()}, LadderOptions{Run: run}, profiles.T1); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "T1: T3:" {
		t.Fatalf("AtMost T3 from T1: attempts %v, want T1 then T3", seen)
	}

	script = []error{netfail}
	_, err = Ladder(context.Background(), prof, Options{DataDir: t.TempDir()}, LadderOptions{Run: run}, profiles.T3)
	if err == nil || !strings.Contains(err.Error(), "the ladder ends at T3") {
		t.Fatalf("stepping below T3: %v", err)
	}

	// Issue #12: a user-namespace plan carries the gate already (rule
	// R-USERNS-KUBELET); the signature asking for it must not start the
	// same T1 again: it steps down to process pods.
	userns := &profiles.Profile{Facts: probes.Facts{"priv.userns": probes.Yes}}
	gate := &Diagnosis{Code: "SIG-SYSCTL-USERNS", Component: "kubelet", Line: "open /proc/sys/vm/overcommit_memory: permission denied",
		Diagnosis: "tunables", Fix: "the gate", AtMost: profiles.TP,
		Remedy: []adapters.Setting{{Component: adapters.Kubelet, Name: "feature-gates", Value: "KubeletInUserNamespace=true"}}}
	seen, script = nil, []error{gate, nil}
	if _, err := Ladder(context.Background(), userns, Options{DataDir: t.TempDir()}, LadderOptions{Run: run}, profiles.T1); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "T1:runtime-wrapper TP:" {
		t.Fatalf("remedy already in the plan: attempts %v, want T1 then TP", seen)
	}
	// Without process pods the same failure goes to T3.
	seen, script = nil, []error{gate, nil}
	if _, err := Ladder(context.Background(), userns, Options{DataDir: t.TempDir()}, LadderOptions{Run: run, NoProcessPods: true}, profiles.T1); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "T1:runtime-wrapper T3:" {
		t.Fatalf("--no-process-pods: attempts %v, want T1 then T3", seen)
	}
	// An unknown failure of the process-pod node leaves the control plane.
	seen, script = nil, []error{errors.New("node-agent exited (code 1)"), nil}
	if _, err := Ladder(context.Background(), prof, Options{DataDir: t.TempDir()}, LadderOptions{Run: run}, profiles.TP); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "TP: T3:" {
		t.Fatalf("unknown failure at TP: attempts %v, want TP then T3", seen)
	}
}

// A step down into TP starts etcd afresh when this launch made it: the
// rung above left a ServiceCIDR that is not loopback (gvisor-do-worker).
func TestLadderIntoTPDropsItsEtcd(t *testing.T) {
	userns := &profiles.Profile{Facts: probes.Facts{"priv.userns": probes.Yes}}
	gate := &Diagnosis{Code: "SIG-SYSCTL-USERNS", Component: "kubelet", Line: "permission denied",
		Diagnosis: "tunables", Fix: "the gate", AtMost: profiles.TP,
		Remedy: []adapters.Setting{{Component: adapters.Kubelet, Name: "feature-gates", Value: "KubeletInUserNamespace=true"}}}
	for _, kept := range []bool{false, true} {
		dir := t.TempDir()
		etcd := filepath.Join(dir, "etcd")
		if kept {
			if err := os.MkdirAll(etcd, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		var atTP []bool // whether etcd's data was there when TP started
		run := func(_ context.Context, plan *adapters.Plan, _ Options) (*Result, error) {
			if plan.Rung == profiles.TP {
				_, err := os.Stat(etcd)
				atTP = append(atTP, err == nil)
				return &Result{Rung: "TP"}, nil
			}
			if err := os.MkdirAll(filepath.Join(etcd, "member"), 0o755); err != nil {
				t.Fatal(err)
			}
			return &Result{Rung: string(plan.Rung)}, gate
		}
		if _, err := Ladder(context.Background(), userns, Options{DataDir: dir}, LadderOptions{Run: run}, profiles.T1); err != nil {
			t.Fatal(err)
		}
		if len(atTP) != 1 || atTP[0] != kept {
			t.Errorf("etcd existed before the launch: %v; at TP it was there: %v, want %v", kept, atTP, kept)
		}
	}
}

// A remedy that sets a k3s flag (SIG-VXLAN's flannel-backend=host-gw) is
// k3s's: a kubernetes engine's launch is not retried with it, it steps
// down to the signature's AtMost at once and says why; k3s retries the
// same rung with it (issue #16).
func TestLadderRemedyPerEngine(t *testing.T) {
	line := "Error registering network: operation not supported"
	sig := signatures.Lookup("SIG-VXLAN")
	if sig == nil || !sig.Regexp.MatchString(line) {
		t.Fatal("SIG-VXLAN does not match its line")
	}
	for _, c := range []struct{ engine, want string }{
		{adapters.EngineK3s, "T0: T0:flannel-backend=host-gw"},
		{adapters.EngineKubernetes, "T0: T2:"},
	} {
		var seen []string
		script := []error{diagnosis(signatures.Hit{Signature: sig, Line: line, Log: signatures.Flannel}), nil}
		run := func(_ context.Context, plan *adapters.Plan, _ Options) (*Result, error) {
			backend, _ := plan.Get(adapters.Cluster, "flannel-backend")
			if backend != "" {
				backend = "flannel-backend=" + backend
			}
			seen = append(seen, string(plan.Rung)+":"+backend)
			err := script[0]
			script = script[1:]
			return &Result{Rung: string(plan.Rung)}, err
		}
		var say strings.Builder
		prof := &profiles.Profile{Facts: probes.Facts{}}
		if _, err := Ladder(context.Background(), prof, Options{DataDir: t.TempDir()},
			LadderOptions{Engine: c.engine, Run: run, Say: &say}, profiles.T0); err != nil {
			t.Fatalf("%s: %v", c.engine, err)
		}
		if got := strings.Join(seen, " "); got != c.want {
			t.Errorf("%s: attempts %q, want %q\n%s", c.engine, got, c.want, say.String())
		}
		said := strings.Contains(say.String(), "remedy not offered to the kubernetes engine: flannel-backend=host-gw is k3s's")
		if said != (c.engine == adapters.EngineKubernetes) {
			t.Errorf("%s: the step down says why: %v\n%s", c.engine, said, say.String())
		}
	}
}
