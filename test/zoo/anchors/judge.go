package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
)

// truth is the rung a real launch reached in a sandbox, and where that
// was measured.
type truth struct {
	Rung, Source string
}

// rungOrder ranks rungs, best first, to take a sandbox's best launch.
var rungOrder = []string{"T0", "T1", "T2", "TP", "T3", "T4"}

// hostTruth: the host is not a launch case of the zoo; test/e2e launches
// a T0 cluster on it (TestLaunchVerifyStop, BenchmarkClusterT0).
var hostTruth = truth{"T0", "test/e2e (T0 on this host)"}

// launchTruth reads launchCases and vmCases from test/zoo/launch_test.go:
// each case's Sandbox and Reach (the rung the test requires the launch to
// reach; the test fails otherwise). A sandbox with several cases gets its best rung
// (runc-docker-kwok is a forced T3 beside runc-docker's TP).
func launchTruth(path string) (map[string]truth, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return nil, err
	}
	out := map[string]truth{"host": hostTruth}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || !slices.Contains([]string{"launchCases", "vmCases"}, vs.Names[0].Name) || len(vs.Values) != 1 {
			return true
		}
		list, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok {
			return false
		}
		for _, el := range list.Elts {
			c, ok := el.(*ast.CompositeLit)
			if !ok {
				continue
			}
			fields := map[string]string{}
			for _, kv := range c.Elts {
				kv, ok := kv.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key, _ := kv.Key.(*ast.Ident)
				lit, _ := kv.Value.(*ast.BasicLit)
				if key != nil && lit != nil && lit.Kind == token.STRING {
					fields[key.Name], _ = strconv.Unquote(lit.Value)
				}
			}
			sb, rung := fields["Sandbox"], fields["Reach"]
			if sb == "" || !slices.Contains(rungOrder, rung) {
				continue
			}
			if old, ok := out[sb]; !ok || slices.Index(rungOrder, rung) < slices.Index(rungOrder, old.Rung) {
				out[sb] = truth{rung, "launch case " + fields["Name"]}
			}
		}
		return false
	})
	if len(out) == 1 {
		return nil, fmt.Errorf("%s: no launchCases found", path)
	}
	return out, nil
}

// containerNames are the container managers systemd-detect-virt and
// virt-what can name (their manuals).
var containerNames = []string{"docker", "podman", "lxc", "lxc-libvirt", "systemd-nspawn", "rkt", "wsl",
	"proot", "pouch", "openvz", "container-other", "oci", "gvisor"}

// detectorWant is what a detector must name to be right in a sandbox:
// gvisor in gVisor (what limits a cluster there is gVisor, not the
// container around it), podman in podman, the hypervisor in the qemu VM,
// and some container in the other
// runc/crun, user-namespace and bwrap sandboxes. The host is not judged:
// what this machine itself runs in is not known independently. A name the
// detector also gives on the host does not count in a sandbox (it sees the
// machine, not the sandbox: the host's /.dockerenv through a shared root).
func detectorWant(sandbox string) []string {
	switch {
	case sandbox == "host":
		return nil
	case strings.HasPrefix(sandbox, "vm-"):
		return []string{"qemu", "kvm"}
	case strings.HasPrefix(sandbox, "gvisor"):
		return []string{"gvisor"}
	case strings.HasPrefix(sandbox, "podman"):
		return []string{"podman"}
	}
	return containerNames
}

// judged is one table cell: the answer and whether it is right. For
// verdict checkers, PodsRight judges "a cluster with pods can run here"
// (truth: T0, T1, T2 or TP reached) and ContainersRight "it runs with
// container pods" (truth: T0-T2); a checker with one yes/no is judged on
// both with that answer. Judged is false where no truth applies.
type judged struct {
	answer
	Judged                     bool
	PodsRight, ContainersRight bool
}

func judge(checker, sandbox string, a answer, t truth, haveTruth bool, hostNames []string) judged {
	j := judged{answer: a}
	if detector(checker) {
		want := detectorWant(sandbox)
		j.Judged = want != nil
		for _, n := range a.Names {
			if slices.Contains(want, n) && !slices.Contains(hostNames, n) {
				j.PodsRight = true
			}
		}
		j.ContainersRight = j.PodsRight
		return j
	}
	if !haveTruth {
		return j
	}
	j.Judged = true
	if !a.Ran {
		return j
	}
	pods, containers := slices.Contains(podRungs, t.Rung), containerRung(t.Rung)
	j.PodsRight = a.Pods == pods
	if checker == "kprobe" {
		j.ContainersRight = a.Containers == containers
	} else {
		j.ContainersRight = a.Pods == containers
	}
	return j
}
