package main

import (
	"strings"
	"testing"
)

// The fixtures are captures of `make zoo-anchors` in real zoo sandboxes
// (testdata/<sandbox>.json, copied from test/zoo/out/anchors; in
// gvisor-run-net's the host's name server, which kubeadm's Hostname
// warning names, is replaced by 192.0.2.53).
func TestReduceCaptured(t *testing.T) {
	type want struct {
		ran, pods bool
		reason    string // prefix of the reduced reason
	}
	cases := map[string]map[string]want{
		"host": {
			"kprobe":              {true, true, "T0"},
			"check-config":        {true, false, "CONFIG_NETFILTER_XT_MATCH_IPVS: missing"},
			"kubeadm":             {true, false, "SystemVerification: cgroups v1 support is deprecated"},
			"systemd-detect-virt": {true, false, "docker"},
			"virt-what":           {true, false, "bhyve docker"},
		},
		"gvisor-run-net": {
			"kprobe":              {true, true, "TP, identity gvisor"},
			"check-config":        {true, false, "no kernel config found"},
			"kubeadm":             {true, false, "SystemVerification: failed to parse kernel config"},
			"systemd-detect-virt": {true, false, "bhyve"},
			"virt-what":           {true, false, "bhyve"},
		},
		"bwrap": {
			"kprobe":              {true, true, "TP, identity bubblewrap"},
			"check-config":        {true, false, "cgroup hierarchy: nonexistent??"},
			"kubeadm":             {true, false, `refused before the checks: cannot use "0.0.0.0"`},
			"systemd-detect-virt": {true, false, "bhyve"},
			"virt-what":           {false, false, "failed (exit 1): virt-what: this script must be run as root"},
		},
		"userns-user": {
			"kprobe":  {true, true, "TP, identity userns"},
			"kubeadm": {true, false, "SystemVerification: cgroups v1 support is deprecated"},
		},
	}
	caps, err := readCaptures("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		for checker, w := range cases[c.Sandbox] {
			r, ok := findRun(c, checker)
			if !ok {
				t.Fatalf("%s: no %s run in the fixture", c.Sandbox, checker)
			}
			a := reduce(r)
			if a.Ran != w.ran || a.Pods != w.pods || !strings.HasPrefix(a.Reason, w.reason) {
				t.Errorf("%s %s: ran %v pods %v %q, want ran %v pods %v %q…", c.Sandbox, checker, a.Ran, a.Pods, a.Reason, w.ran, w.pods, w.reason)
			}
		}
	}
	// userns-user's preflight also names the directory the launch could
	// not make (the class kprobe's KP-FS-008 checks), after the cgroup one.
	for _, c := range caps {
		if c.Sandbox == "userns-user" {
			r, _ := findRun(c, "kubeadm")
			if a := reduce(r); !strings.Contains(a.Reason, "(+1 more)") || !strings.Contains(r.Stderr, "DirAvailable--var-lib-etcd") {
				t.Errorf("userns-user kubeadm: %q", a.Reason)
			}
		}
	}
}

// Errors about what an installer brings or sets leave kubeadm's verdict yes.
func TestReduceKubeadmLauncherErrors(t *testing.T) {
	out := "[preflight] Running pre-flight checks\n[preflight] Some fatal errors occurred:\n" +
		"\t[ERROR CRI]: could not connect to the container runtime\n" +
		"\t[ERROR SystemVerification]: couldn't get kubelet version: cannot execute 'kubelet --version'\n" +
		"\t[ERROR FileContent--proc-sys-net-ipv4-ip_forward]: /proc/sys/net/ipv4/ip_forward contents are not set to 1\n"
	if a := reduce(run{Checker: "kubeadm", Exit: 1, Stderr: out}); !a.Ran || !a.Pods {
		t.Errorf("launcher errors only: %+v", a)
	}
	out += "\t[ERROR IsPrivilegedUser]: user is not running as root\n"
	if a := reduce(run{Checker: "kubeadm", Exit: 1, Stderr: out}); !a.Ran || a.Pods || !strings.HasPrefix(a.Reason, "IsPrivilegedUser") {
		t.Errorf("with IsPrivilegedUser: %+v", a)
	}
	if a := reduce(run{Checker: "kubeadm", Exit: 1, Stderr: "panic: boom"}); a.Ran {
		t.Errorf("no preflight output counts as no answer: %+v", a)
	}
}

// The truth comes from the real launch cases: the best rung per sandbox.
func TestLaunchTruth(t *testing.T) {
	truths, err := launchTruth("../launch_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for sb, rung := range map[string]string{"host": "T0", "runc-privileged": "T0", "userns-root": "T1", "runc-docker": "TP", "gvisor-run": "TP", "bwrap": "TP"} {
		if truths[sb].Rung != rung {
			t.Errorf("%s: truth %+v, want %s", sb, truths[sb], rung)
		}
	}
}

func TestJudge(t *testing.T) {
	tp := truth{Rung: "TP"}
	// A "no" where process pods run: wrong for "pods at all", right for "containers".
	j := judge("kubeadm", "runc-docker", answer{Ran: true}, tp, true, nil)
	if !j.Judged || j.PodsRight || !j.ContainersRight {
		t.Errorf("kubeadm no at TP: %+v", j)
	}
	// kprobe's TP is right on both questions.
	j = judge("kprobe", "runc-docker", answer{Ran: true, Pods: true}, tp, true, nil)
	if !j.PodsRight || !j.ContainersRight {
		t.Errorf("kprobe TP at TP: %+v", j)
	}
	// A checker that gave no answer is wrong on both.
	j = judge("check-config", "gvisor-run", answer{}, tp, true, nil)
	if !j.Judged || j.PodsRight || j.ContainersRight {
		t.Errorf("no answer: %+v", j)
	}
	// Detectors: the sandbox's kind, not a name the host also gets.
	if j := judge("systemd-detect-virt", "runc-docker", answer{Ran: true, Names: []string{"container-other"}}, tp, true, []string{"docker"}); !j.PodsRight {
		t.Errorf("container-other in runc-docker: %+v", j)
	}
	if j := judge("systemd-detect-virt", "userns-user", answer{Ran: true, Names: []string{"docker"}}, tp, true, []string{"docker"}); j.PodsRight {
		t.Errorf("the host's docker in userns-user: %+v", j)
	}
	if j := judge("virt-what", "gvisor-run", answer{Ran: true, Names: []string{"bhyve"}}, tp, true, nil); j.PodsRight {
		t.Errorf("bhyve in gVisor: %+v", j)
	}
	if j := judge("virt-what", "host", answer{Ran: true, Names: []string{"docker"}}, truth{Rung: "T0"}, true, nil); j.Judged {
		t.Errorf("the host is not judged for detectors: %+v", j)
	}
}
